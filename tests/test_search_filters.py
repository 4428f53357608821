"""``/search`` filters (character, group, user, chat, namespace, send dates) and the bounded top-k
that keeps frequent words cheap: real files, the real indexer, real HTTP."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from litestar.testing import TestClient

from sidecar.api.app import create_app
from sidecar.config import Settings
from sidecar.query import fts_sql, search_text
from tests.conftest import PREFIX
from tests.index_harness import Harness
from tests.st_files import header, message, st_save

ARIA = "default-user/chats/Aria/aria.jsonl"
KAEL = "default-user/chats/Kael/kael.jsonl"
GROUP = "default-user/group chats/party.jsonl"
BOB = "other-user/chats/Bob/bob.jsonl"


def write_group(root: Path) -> None:
    path = root / "default-user/groups/g1.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    data = {"id": "g1", "name": "Party", "members": ["Aria.png"], "chats": ["party"]}
    path.write_text(json.dumps(data), encoding="utf-8")


def dated(text: str, day: str, **kwargs: Any) -> dict[str, Any]:
    return message(text, send_date=f"{day}T10:00:00.000Z", **kwargs)


class Env:
    def __init__(self, tmp_path: Path) -> None:
        self.root, self.db_dir = tmp_path / "st", tmp_path / "db"
        write_group(self.root)
        st_save(
            self.root / ARIA,
            [
                header(),
                dated("dragon at dawn", "2025-01-10"),
                dated("dragon at noon", "2025-02-10", extra={"tracker": {"note": "dragon seen"}}),
                message("dragon with no date", send_date=None),
            ],
        )
        st_save(self.root / KAEL, [header(), dated("dragon in the north", "2025-03-01")])
        st_save(self.root / GROUP, [header(), dated("dragon party", "2025-02-11")])
        st_save(self.root / BOB, [header(), dated("dragon of bob", "2025-02-10")])
        self.h = Harness(self.root, self.db_dir)
        self.h.scan()
        self.ids = {self.h.chat_id(rel): rel for rel in (ARIA, KAEL, GROUP, BOB)}
        settings = Settings.model_validate(
            {"storage": {"database_dir": str(self.db_dir)}, "sillytavern": {"data_root": None}}
        )
        self.client = TestClient(create_app(settings))
        self.client.__enter__()

    def search(self, status: int = 200, **params: Any) -> Any:
        response = self.client.get(PREFIX + "/search", params={"limit": 100, **params})
        assert response.status_code == status, response.text
        return response.json()

    def hits(self, **params: Any) -> set[tuple[str, int, str]]:
        items = self.search(q="dragon", **params)["items"]
        return {(self.ids[i["chatId"]], i["position"], i["where"]) for i in items}

    def close(self) -> None:
        self.client.__exit__(None, None, None)
        self.h.close()


@pytest.fixture
def env(tmp_path: Path) -> Iterator[Env]:
    e = Env(tmp_path)
    yield e
    e.close()


ALL_ARIA = {(ARIA, 0, "text"), (ARIA, 1, "text"), (ARIA, 2, "text"), (ARIA, 1, "tracker.note")}


def test_character_group_and_user(env: Env) -> None:
    assert env.hits(character="Aria") == ALL_ARIA
    assert env.hits(character="Kael") == {(KAEL, 0, "text")}
    assert env.hits(character="Nobody") == set()
    assert env.hits(groupId="g1") == {(GROUP, 0, "text")}
    assert env.hits(groupId="g1", character="Aria") == set()  # a group chat has no character
    assert env.hits(user="other-user") == {(BOB, 0, "text")}
    assert len(env.hits()) == 7


def test_send_dates(env: Env) -> None:
    assert env.hits(dateFrom="2025-02-10", dateTo="2025-02-10") == {
        (ARIA, 1, "text"),
        (ARIA, 1, "tracker.note"),
        (BOB, 0, "text"),
    }  # a bare date is that whole day, both ends inclusive
    assert env.hits(dateFrom="2025-02-11") == {(GROUP, 0, "text"), (KAEL, 0, "text")}
    assert env.hits(dateTo="2025-01-31") == {(ARIA, 0, "text")}  # no date: left out
    assert env.hits(dateFrom="2025-02-10T10:00:00Z", dateTo="2025-02-10T10:00:00Z") == {
        (ARIA, 1, "text"),
        (ARIA, 1, "tracker.note"),
        (BOB, 0, "text"),
    }
    # 11:00 in UTC+01:00 is 10:00 UTC; naive date-times are UTC.
    assert env.hits(dateFrom="2025-02-10T11:00:00+01:00", dateTo="2025-02-10T10:00:00") == {
        (ARIA, 1, "text"),
        (ARIA, 1, "tracker.note"),
        (BOB, 0, "text"),
    }
    assert env.hits(dateFrom="2025-02-10T10:00:00.001Z", dateTo="2025-02-10") == set()


def test_filters_combine(env: Env) -> None:
    assert env.hits(character="Aria", dateFrom="2025-02-01", namespace="tracker") == {
        (ARIA, 1, "tracker.note")
    }
    assert env.hits(chatId=env.h.chat_id(ARIA), dateTo="2025-01-10") == {(ARIA, 0, "text")}
    assert env.hits(user="default-user", dateFrom="2025-02-11", dateTo="2025-02-28") == {
        (GROUP, 0, "text")
    }


@pytest.mark.parametrize(
    "params",
    [
        {"dateFrom": "yesterday"},
        {"dateTo": "2025-13-01"},
        {"dateFrom": "2025-02-10", "dateTo": "2025-02-09"},
        {"dateFrom": "2025-02-10T10:00:00Z", "dateTo": "2025-02-10T09:59:59Z"},
    ],
)
def test_bad_dates(env: Env, params: dict[str, str]) -> None:
    assert "error" in env.search(400, q="dragon", **params)


def test_chat_filter_as_a_list_of_many_chats(env: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    """More chats than fit in the FTS5 query: the chat list is checked against each candidate."""
    expected = env.hits(user="default-user")
    monkeypatch.setattr(search_text, "MAX_CHAT_TERMS", 0)
    assert env.hits(user="default-user") == expected
    assert env.hits(character="Aria", dateFrom="2025-02-01") == {
        (ARIA, 1, "text"),
        (ARIA, 1, "tracker.note"),
    }


def test_a_frequent_word_gives_a_bounded_page(tmp_path: Path) -> None:
    """A word in more messages than the ranking window: a full page of real hits, the best of the
    newest matches first; filters still find older matches."""
    count = fts_sql.CANDIDATES + 300
    root, db_dir = tmp_path / "st", tmp_path / "db"
    old = [
        dated(f"the old story number {n} goes on and on", "2024-01-01" if n < 5 else "2024-05-01")
        for n in range(count)
    ]
    old[3] = dated("the the the", "2024-01-01")  # the best match, but among the oldest
    st_save(root / "default-user/chats/Old/old.jsonl", [header(), *old])
    h = Harness(root, db_dir)
    h.scan()
    new = [dated(f"the new chapter {n} is long enough to rank lower", "2025-05-01")
           for n in range(count)]  # fmt: skip
    new[-5] = dated("the the", "2025-05-01")
    st_save(root / "default-user/chats/New/new.jsonl", [header(), *new])
    h.scan()
    h.close()
    settings = Settings.model_validate(
        {"storage": {"database_dir": str(db_dir)}, "sillytavern": {"data_root": None}}
    )
    with TestClient(create_app(settings)) as client:

        def search(**params: Any) -> list[dict[str, Any]]:
            response = client.get(PREFIX + "/search", params={"q": "the", "limit": 100, **params})
            assert response.status_code == 200, response.text
            items: list[dict[str, Any]] = response.json()["items"]
            return items

        page = search()
        assert len(page) == 100
        assert all("<mark>the</mark>" in item["snippet"].lower() for item in page)
        assert page[0]["snippet"] == "<mark>the</mark> <mark>the</mark>"
        assert [i["score"] for i in page] == sorted((i["score"] for i in page), reverse=True)
        older = search(character="Old")
        assert len(older) == 100
        # Ranked among the chat's newest CANDIDATES matches: its oldest messages are not.
        assert min(i["position"] for i in older) >= count - fts_sql.CANDIDATES
        # A filter that leaves fewer matches ranks all of them.
        oldest = search(dateTo="2024-01-31")
        assert [i["position"] for i in oldest][:1] == [3]
        assert {i["position"] for i in oldest} == set(range(5))
