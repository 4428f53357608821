"""Chat-level search, ``GET /chats?q=``: SillyTavern's rule (every fragment in the file name or in
some message, each fragment possibly in a different message), checked against a direct
implementation of that rule on the same files."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from litestar.testing import TestClient

from sidecar.api.app import create_app
from sidecar.config import Settings
from sidecar.query import chat_search
from tests.conftest import PREFIX
from tests.index_harness import Harness
from tests.st_files import header, message, st_save

CHATS: dict[str, list[str]] = {
    "default-user/chats/Aria/Aria - morning.jsonl": [
        "The lantern burns low",
        "She reads the old letter",
        "我们明天去北京",
    ],
    "default-user/chats/Aria/Aria - night.jsonl": ["A lantern in the rain", "nothing else"],
    "default-user/chats/Kael/Kael - 東京.jsonl": ["東京タワーへ行こう", "version 字2025字 ready"],
    "default-user/chats/Kael/Kael - Café.jsonl": ["학교에서 만나요", "the letter arrived"],
    "other-user/chats/Bob/Bob - lantern.jsonl": ["the letter and the lantern"],
}


def stem(rel: str) -> str:
    return rel.rsplit("/", 1)[1][: -len(".jsonl")]


def sillytavern_finds(q: str) -> set[str]:
    """SillyTavern 1.18's rule (``POST /api/chats/search``): lower-cased whitespace-split
    fragments, each a substring of some message's ``mes`` or of the file name (no extension)."""
    fragments = q.strip().lower().split()
    return {
        rel
        for rel, texts in CHATS.items()
        if all(any(f in t.lower() for t in [*texts, stem(rel)]) for f in fragments)
    }


class Env:
    def __init__(self, tmp_path: Path) -> None:
        self.root, self.db_dir = tmp_path / "st", tmp_path / "db"
        for rel, texts in CHATS.items():
            st_save(self.root / rel, [header(), *(message(t) for t in texts)])
        self.h = Harness(self.root, self.db_dir)
        self.h.scan()
        self.paths = {self.h.chat_id(rel): rel for rel in CHATS}
        settings = Settings.model_validate(
            {"storage": {"database_dir": str(self.db_dir)}, "sillytavern": {"data_root": None}}
        )
        self.client = TestClient(create_app(settings))
        self.client.__enter__()

    def get(self, status: int = 200, headers: dict[str, str] | None = None, **params: Any) -> Any:
        response = self.client.get(PREFIX + "/chats", params=params, headers=headers or {})
        assert response.status_code == status, response.text
        return response.json()

    def found(self, q: str, **params: Any) -> set[str]:
        body = self.get(q=q, limit=1000, **params)
        assert body["nextCursor"] is None
        return {self.paths[item["chatId"]] for item in body["items"]}

    def close(self) -> None:
        self.client.__exit__(None, None, None)
        self.h.close()


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    """One indexed root for the module: the tests only read it."""
    e = Env(tmp_path_factory.mktemp("chats"))
    yield e
    e.close()


@pytest.fixture(params=["listed", "probed"])
def env(request: pytest.FixtureRequest, shared: Env) -> Iterator[Env]:
    """Both ways a fragment is checked: its chats listed from its matches (few matches), or each
    chat probed with one FTS5 query (many matches; forced here by a threshold of one)."""
    with pytest.MonkeyPatch.context() as monkeypatch:
        if request.param == "probed":
            monkeypatch.setattr(chat_search, "RARE_MIN", 1)
            monkeypatch.setattr(chat_search, "RARE_PER_CHAT", 0)
        yield shared


MORNING = "default-user/chats/Aria/Aria - morning.jsonl"
NIGHT = "default-user/chats/Aria/Aria - night.jsonl"
TOKYO = "default-user/chats/Kael/Kael - 東京.jsonl"
CAFE = "default-user/chats/Kael/Kael - Café.jsonl"
BOB = "other-user/chats/Bob/Bob - lantern.jsonl"


def test_words_in_different_messages_find_the_chat(env: Env) -> None:
    assert env.found("lantern letter") == {MORNING, BOB}  # two messages of "morning"
    assert env.found("lantern rain") == {NIGHT}  # one message
    assert env.found("LANTERN Letter") == {MORNING, BOB}
    assert env.found("lantern nowhere") == set()


def test_file_name_and_message_together(env: Env) -> None:
    assert env.found("morning") == {MORNING}  # file name only
    assert env.found("aria lantern") == {MORNING, NIGHT}  # name + message
    assert env.found("café") == {CAFE}  # non-ASCII, case-folded name
    assert env.found("CAFÉ letter") == {CAFE}
    assert env.found("kael 2025") == {TOKYO}
    assert env.found("東京") == {TOKYO}  # name and message


def test_cjk_fragments_are_substrings(env: Env) -> None:
    assert env.found("北京") == {MORNING}
    assert env.found("明天去") == {MORNING}
    assert env.found("タワー") == {TOKYO}
    assert env.found("학교") == {CAFE}
    assert env.found("2025") == {TOKYO}
    assert env.found("北京 lantern") == {MORNING}
    assert env.found("北京 rain") == set()


@pytest.mark.parametrize(
    "q",
    [
        "lantern letter",
        "the",
        "北京",
        "明天",
        "タワー 2025",
        "학교 letter",
        "aria",
        "kael 東京",
        "xyz",
    ],
)
def test_finds_every_chat_sillytavern_finds(env: Env, q: str) -> None:
    assert env.found(q) >= sillytavern_finds(q)


@pytest.mark.parametrize(
    "q",
    [
        "ante",
        "LANT ette",
        "ain",
        "he",
        "北京 ante",
        "025",
        "025字",
        "ow",
        "ead",
        "-",
        "a_b",
        "100%",
        "明天去",
        "タワーへ",
        "학교",
    ],
)
def test_substring_mode_is_sillytavern_exactly(env: Env, q: str) -> None:
    assert env.found(q, match="substring") == sillytavern_finds(q)


def test_words_mode_is_the_default(env: Env) -> None:
    assert env.found("ante") == {BOB}  # inside "lantern": Bob's file name only
    assert env.found("ante", match="words") == {BOB}
    assert env.found("ante", match="substring") == {MORNING, NIGHT, BOB}
    assert "error" in env.get(400, q="ante", match="regex")


def test_punctuation_fragments_match_file_names_only(env: Env) -> None:
    assert env.found("-") == set(CHATS)  # every file name has " - "
    assert env.found("- lantern") == {MORNING, NIGHT, BOB}


def test_other_filters_and_user_scope(env: Env) -> None:
    assert env.found("lantern", character="Aria") == {MORNING, NIGHT}
    assert env.found("lantern", user="other-user") == {BOB}
    scoped = env.get(q="letter", headers={"x-sillytavern-user": "default-user"}, limit=1000)
    assert {env.paths[i["chatId"]] for i in scoped["items"]} == {MORNING, CAFE}


def test_pages_of_a_search(env: Env) -> None:
    seen: list[str] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"q": "the", "limit": 1}
        if cursor is not None:
            params["cursor"] = cursor
        body = env.get(**params)
        seen += [env.paths[i["chatId"]] for i in body["items"]]
        cursor = body["nextCursor"]
        if cursor is None:
            break
    assert seen == sorted(env.found("the"))
    assert len(seen) == 4


def test_bad_chat_searches(env: Env) -> None:
    assert "error" in env.get(400, q="x" * 1001)
    assert "error" in env.get(400, q=" ".join(f"w{i}" for i in range(33)))
    assert env.get(q="")["items"]  # an empty q is no filter
    body = env.get(q='" AND OR NEAR( *', limit=5)
    assert body["items"] == []


def test_many_chats_page_stops_early(tmp_path: Path) -> None:
    """More chats than one batch: the page is complete and the cursor goes on."""
    root, db_dir = tmp_path / "st", tmp_path / "db"
    for n in range(chat_search.BATCH + 30):
        text = "common words here" + (" rare" if n % 50 == 7 else "")
        st_save(root / f"default-user/chats/C/chat {n:04d}.jsonl", [header(), message(text)])
    h = Harness(root, db_dir)
    h.scan()
    h.close()
    settings = Settings.model_validate(
        {"storage": {"database_dir": str(db_dir)}, "sillytavern": {"data_root": None}}
    )
    with TestClient(create_app(settings)) as client:
        first = client.get(PREFIX + "/chats", params={"q": "common", "limit": 100}).json()
        assert len(first["items"]) == 100
        assert first["nextCursor"] is not None
        second = client.get(
            PREFIX + "/chats", params={"q": "common", "limit": 1000, "cursor": first["nextCursor"]}
        ).json()
        assert len(second["items"]) == chat_search.BATCH + 30 - 100
        rare = client.get(PREFIX + "/chats", params={"q": "rare words", "limit": 1000}).json()
        names = [item["fileName"] for item in rare["items"]]
        assert names == [f"chat {n:04d}" for n in range(7, chat_search.BATCH + 30, 50)]
