"""Full-text search: real chat files, the real indexer, real SQLite files, real HTTP."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from litestar.testing import TestClient

from sidecar.api.app import create_app
from sidecar.config import Settings
from sidecar.storage.registry import CATALOG_FILE
from tests.conftest import PREFIX
from tests.index_harness import Harness
from tests.st_files import SOLO, header, message, st_save, swiped

OTHER = "other-user/chats/Bob"


def chat_a() -> list[Any]:
    return [
        header(),
        message("Hello traveller, the dragon sleeps in the cave", name="User", is_user=True),
        message(
            "The dragon dragon dragon wakes",
            extra={"tracker": {"mood": "angry dragon", "hp": 12, "tags": ["dragon"]}},
        ),
        swiped(
            ["a quiet forest", "a noisy market"],
            1,
            [{"tracker": {"place": "forest glade"}}, {"tracker": {"place": "market square"}}],
        ),
        message("<b>bold</b> & the dragon's cave"),
    ]


class Env:
    def __init__(self, tmp_path: Path) -> None:
        self.root = tmp_path / "st"
        self.db_dir = tmp_path / "db"
        self.path_a = self.root / SOLO / "a.jsonl"
        self.path_b = self.root / OTHER / "b.jsonl"
        st_save(self.path_a, chat_a())
        st_save(self.path_b, [header(), message("a dragon in another user's chat")])
        self.h = Harness(self.root, self.db_dir)
        self.h.scan()
        settings = Settings.model_validate(
            {"storage": {"database_dir": str(self.db_dir)}, "sillytavern": {"data_root": None}}
        )
        self.client = TestClient(create_app(settings))
        self.client.__enter__()

    @property
    def chat_a(self) -> str:
        return self.h.chat_id("default-user/chats/Seraphina/a.jsonl")

    @property
    def chat_b(self) -> str:
        return self.h.chat_id("other-user/chats/Bob/b.jsonl")

    def search(
        self, status: int = 200, headers: dict[str, str] | None = None, **params: Any
    ) -> Any:
        response = self.client.get(PREFIX + "/search", params=params, headers=headers or {})
        assert response.status_code == status, response.text
        return response.json()

    def items(self, **params: Any) -> list[dict[str, Any]]:
        body = self.search(**params)
        assert body["nextCursor"] is None
        items: list[dict[str, Any]] = body["items"]
        return items

    def rescan(self) -> None:
        self.h.scan()

    def close(self) -> None:
        self.client.__exit__(None, None, None)
        self.h.close()


@pytest.fixture
def env(tmp_path: Path) -> Iterator[Env]:
    e = Env(tmp_path)
    yield e
    e.close()


def places(items: list[dict[str, Any]]) -> set[tuple[Any, ...]]:
    return {(i["chatId"], i["position"], i["swipe"], i["where"]) for i in items}


def fts_ok(db: Path, table: str) -> None:
    with sqlite3.connect(db) as conn:
        conn.execute(f"INSERT INTO {table}({table}, rank) VALUES ('integrity-check', 1)")


def test_text_and_data_hits_with_snippets(env: Env) -> None:
    items = env.items(q="dragon")
    a, b = env.chat_a, env.chat_b
    assert places(items) == {
        (a, 0, None, "text"),
        (a, 1, None, "text"),
        (a, 3, None, "text"),
        (a, 1, 0, "tracker.mood"),
        (b, 0, None, "text"),
    }
    by_place = {(i["chatId"], i["position"], i["where"]): i for i in items}
    assert by_place[(a, 1, "tracker.mood")]["snippet"] == "angry <mark>dragon</mark>"
    assert by_place[(a, 0, "text")]["user"] == "default-user"
    assert by_place[(b, 0, "text")]["user"] == "other-user"
    # HTML in the text is escaped; only the match markers are markup.
    assert (
        by_place[(a, 3, "text")]["snippet"]
        == "&lt;b&gt;bold&lt;/b&gt; &amp; the <mark>dragon</mark>'s cave"
    )
    scores = [i["score"] for i in items]
    assert scores == sorted(scores, reverse=True)
    for item in items:  # each hit has its message's date, as the messages route gives it
        dated = env.h.catalog_rows("SELECT send_date FROM messages WHERE chat_id = ? AND "
                                   "position = ?", item["chatId"], item["position"])  # fmt: skip
        assert item["sendDate"]
        assert item["sendDate"] == dated[0][0]


def test_swipe_values_and_non_strings(env: Env) -> None:
    assert places(env.items(q="forest")) == {(env.chat_a, 2, 0, "tracker.place")}
    assert places(env.items(q="market")) == {
        (env.chat_a, 2, None, "text"),
        (env.chat_a, 2, 1, "tracker.place"),
    }
    assert env.items(q="12") == []  # numbers are not indexed
    assert env.items(q="tags") == []  # nor keys


def test_ranking(env: Env) -> None:
    items = env.items(q="dragon")
    text = [i for i in items if i["where"] == "text" and i["chatId"] == env.chat_a]
    assert text[0]["position"] == 1  # "dragon dragon dragon" ranks first
    assert [i["position"] for i in env.items(q="dragon cave")] == [3, 0]  # shorter first
    assert len(env.items(q="dragon", limit=2)) == 2


def test_filters(env: Env) -> None:
    a, b = env.chat_a, env.chat_b
    assert places(env.items(q="dragon", namespace="tracker")) == {(a, 1, 0, "tracker.mood")}
    assert env.items(q="dragon", namespace="nope") == []
    assert {i["chatId"] for i in env.items(q="dragon", chatId=b)} == {b}
    assert {i["chatId"] for i in env.items(q="dragon", user="default-user")} == {a}
    header_only = env.search(q="dragon", headers={"x-sillytavern-user": "other-user"})["items"]
    assert {i["chatId"] for i in header_only} == {b}
    # The header wins: another user's chat stays out of reach.
    assert (
        env.search(q="dragon", chatId=a, headers={"x-sillytavern-user": "other-user"})["items"]
        == []
    )
    assert (
        env.search(q="dragon", user="default-user", headers={"x-sillytavern-user": "other-user"})[
            "items"
        ]
        == []
    )
    assert env.items(q="dragon", user="nobody") == []


def test_reindex_keeps_fts_in_sync(env: Env) -> None:
    a = env.chat_a
    messages = chat_a()
    messages[1] = message("Greetings wanderer", name="User", is_user=True)  # edited text
    messages[2]["extra"]["tracker"]["mood"] = "calm unicorn"
    messages.insert(1, message("a brand new opening"))  # at 0: every position moves
    del messages[-1]  # a deleted message
    st_save(env.path_a, messages)
    env.rescan()
    assert env.items(q="traveller") == []
    assert places(env.items(q="wanderer")) == {(a, 1, None, "text")}
    assert places(env.items(q="unicorn")) == {(a, 2, 0, "tracker.mood")}
    assert env.items(q="angry") == []
    assert env.items(q="bold") == []
    assert places(env.items(q="dragon", chatId=a)) == {(a, 2, None, "text")}
    assert places(env.items(q="market")) == {(a, 3, None, "text"), (a, 3, 1, "tracker.place")}
    fts_ok(env.db_dir / CATALOG_FILE, "messages_fts")
    fts_ok(env.db_dir / "tracker.db", "data_fts")
    with sqlite3.connect(env.db_dir / CATALOG_FILE) as conn:
        indexed = conn.execute("SELECT count(*) FROM messages_fts_docsize").fetchone()[0]
        total = conn.execute("SELECT count(*) FROM messages WHERE text IS NOT NULL").fetchone()[0]
    assert indexed == total


def test_existing_databases_get_the_index(tmp_path: Path) -> None:
    """A database made before full-text search gets its index (rebuilt) on the next open."""
    root, db_dir = tmp_path / "st", tmp_path / "db"
    st_save(root / SOLO / "a.jsonl", chat_a())
    h = Harness(root, db_dir)
    h.scan()
    h.close()
    with sqlite3.connect(db_dir / CATALOG_FILE) as conn:
        conn.execute("DROP TABLE messages_fts")
        for name in ("ai", "ad", "au"):
            conn.execute(f"DROP TRIGGER messages_fts_{name}")
    with sqlite3.connect(db_dir / "tracker.db") as conn:
        conn.execute("DROP TABLE data_fts")
        conn.execute("DROP VIEW data_fts_source")
        for name in ("ai", "ad", "au"):
            conn.execute(f"DROP TRIGGER data_fts_{name}")
    settings = Settings.model_validate(
        {"storage": {"database_dir": str(db_dir)}, "sillytavern": {"data_root": None}}
    )
    h = Harness(root, db_dir)  # opens the catalog: creates and rebuilds messages_fts
    h.close()
    with TestClient(create_app(settings)) as client:
        found = client.get(PREFIX + "/search", params={"q": "dragon"}).json()["items"]
    assert {i["where"] for i in found} == {"text", "tracker.mood"}
    fts_ok(db_dir / CATALOG_FILE, "messages_fts")
    fts_ok(db_dir / "tracker.db", "data_fts")


def test_nothing_indexed(tmp_path: Path) -> None:
    settings = Settings.model_validate(
        {"storage": {"database_dir": str(tmp_path / "db")}, "sillytavern": {"data_root": None}}
    )
    with TestClient(create_app(settings)) as client:
        response = client.get(PREFIX + "/search", params={"q": "dragon"})
    assert response.status_code == 200
    assert response.json() == {"items": [], "nextCursor": None}


HOSTILE = [
    '"',
    '"dragon',
    'dragon"',
    '"""',
    "dragon AND cave",
    "dragon OR",
    "OR",
    "AND",
    "NOT dragon",
    "NEAR(dragon cave)",
    "NEAR",
    "drag*",
    "*",
    "^dragon",
    "^",
    "(dragon",
    "dragon)",
    "()",
    "text:dragon",
    "{text}: dragon",
    "-dragon",
    "+",
    "dragon's",
    "x" * 10_000,
    "dragon " * 2000,
    "ドラゴン 🐉",
    "🐉",
    "é",
    "\x00",
    "a\tb\nc",
    "' OR 1=1 --",
]


@pytest.mark.parametrize("q", HOSTILE)
def test_hostile_queries(env: Env, q: str) -> None:
    response = env.client.get(PREFIX + "/search", params={"q": q})
    assert response.status_code in (200, 400), response.text
    body = response.json()
    if response.status_code == 400:
        assert isinstance(body["error"], str)
    else:
        assert isinstance(body["items"], list)


def test_operators_are_words(env: Env) -> None:
    assert places(env.items(q='"dragon')) == places(env.items(q="dragon"))
    assert env.items(q="dragon OR unicorn") == []  # OR is a word to find, not an operator
    assert env.items(q="drag*") == []  # no prefix queries: "drag" is not a word here
    assert places(env.items(q="(dragon) ^cave")) == places(env.items(q="dragon cave"))


@pytest.mark.parametrize("q", ["", "   ", None])
def test_empty_query(env: Env, q: str | None) -> None:
    params: dict[str, Any] = {} if q is None else {"q": q}
    assert "error" in env.search(400, None, **params)


@pytest.mark.parametrize("limit", [0, 101, -1])
def test_bad_limit(env: Env, limit: int) -> None:
    assert "error" in env.search(400, q="dragon", limit=limit)
