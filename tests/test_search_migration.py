"""Databases whose full-text indexes were built before CJK segmentation (by sidecar before this
change: the schema below is its DDL, written here as raw SQL) are rebuilt once when opened, and
then find CJK text; the list of namespaces in use no longer waits for a cache."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

from litestar.testing import TestClient

from sidecar.api.app import create_app
from sidecar.config import Settings
from sidecar.storage.registry import CATALOG_FILE
from tests.conftest import PREFIX
from tests.index_harness import Harness
from tests.st_files import SOLO, header, message, st_save

TOKENIZE = "tokenize='unicode61 remove_diacritics 2'"
IS_TEXT = "(CASE WHEN json_valid({v}) THEN json_type({v}) END = 'text')"
OLD_CATALOG = [
    "CREATE VIRTUAL TABLE messages_fts USING fts5(text, content='messages', "
    f"content_rowid='msg_uid', {TOKENIZE})",
    "CREATE TRIGGER messages_fts_ai AFTER INSERT ON messages WHEN new.text IS NOT NULL BEGIN "
    "INSERT INTO messages_fts(rowid, text) VALUES (new.msg_uid, new.text); END",
    "CREATE TRIGGER messages_fts_ad AFTER DELETE ON messages WHEN old.text IS NOT NULL BEGIN "
    "INSERT INTO messages_fts(messages_fts, rowid, text) VALUES ('delete', old.msg_uid, old.text);"
    " END",
    "CREATE TRIGGER messages_fts_au AFTER UPDATE OF text ON messages "
    "WHEN old.text IS NOT new.text BEGIN "
    "INSERT INTO messages_fts(messages_fts, rowid, text) "
    "SELECT 'delete', old.msg_uid, old.text WHERE old.text IS NOT NULL; "
    "INSERT INTO messages_fts(rowid, text) SELECT new.msg_uid, new.text "
    "WHERE new.text IS NOT NULL; END",
]
OLD_DATA = [
    "CREATE VIEW data_fts_source AS SELECT rowid AS rid, json_extract(value, '$') AS text "
    f"FROM message_data WHERE {IS_TEXT.format(v='value')}",
    "CREATE VIRTUAL TABLE data_fts USING fts5(text, content='data_fts_source', "
    f"content_rowid='rid', {TOKENIZE})",
    f"CREATE TRIGGER data_fts_ai AFTER INSERT ON message_data WHEN {IS_TEXT.format(v='new.value')} "
    "BEGIN INSERT INTO data_fts(rowid, text) VALUES (new.rowid, json_extract(new.value, '$')); "
    "END",
]
NEW_OBJECTS = {
    CATALOG_FILE: ["messages_fts_ai", "messages_fts_ad", "messages_fts_au", "messages_fts",
                   "messages_fts_source", "messages_fts_seg", "ix_messages_namespaces"],
    "tracker.db": ["data_fts_ai", "data_fts_ad", "data_fts_au", "data_fts", "data_fts_source",
                   "data_fts_seg"],
}  # fmt: skip


def chat() -> list[Any]:
    return [
        header(),
        message("我们明天去北京看长城", extra={"tracker": {"place": "東京タワーの下"}}),
        message("The dragon sleeps"),
    ]


def make_old(db_dir: Path) -> None:
    """Replace the current indexes with the ones sidecar built before (and fill them)."""
    for db, old in ((CATALOG_FILE, OLD_CATALOG), ("tracker.db", OLD_DATA)):
        with sqlite3.connect(db_dir / db) as conn:
            for name in NEW_OBJECTS[db]:
                kind = conn.execute(
                    "SELECT type FROM sqlite_master WHERE name = ?", (name,)
                ).fetchone()[0]
                conn.execute(f"DROP {kind.upper()} {name}")
            for statement in old:
                conn.execute(statement)
            table = "messages_fts" if db == CATALOG_FILE else "data_fts"
            conn.execute(f"INSERT INTO {table}({table}) VALUES ('rebuild')")


def raw_match(path: Path, table: str, query: str) -> int:
    with sqlite3.connect(path) as conn:
        return int(
            conn.execute(
                f"SELECT count(*) FROM {table} WHERE {table} MATCH ?", (query,)
            ).fetchone()[0]
        )


def schema(path: Path) -> dict[str, str]:
    with sqlite3.connect(path) as conn:
        return dict(conn.execute("SELECT name, sql FROM sqlite_master WHERE sql IS NOT NULL"))


def test_old_indexes_are_rebuilt_on_open(tmp_path: Path) -> None:
    root, db_dir = tmp_path / "st", tmp_path / "db"
    st_save(root / SOLO / "a.jsonl", chat())
    h = Harness(root, db_dir)
    h.scan()
    current = {db: schema(db_dir / db) for db in NEW_OBJECTS}
    h.close()
    make_old(db_dir)
    assert raw_match(db_dir / CATALOG_FILE, "messages_fts", '"北京"') == 0  # the old index
    assert raw_match(db_dir / "tracker.db", "data_fts", '"東京"') == 0
    assert raw_match(db_dir / CATALOG_FILE, "messages_fts", '"dragon"') == 1

    settings = Settings.model_validate(
        {"storage": {"database_dir": str(db_dir)}, "sillytavern": {"data_root": None}}
    )
    with TestClient(create_app(settings)) as client:
        # Before the indexer opens the old catalog, the API searches its old index as it is.
        chat_id = client.get(PREFIX + "/chats").json()["items"][0]["chatId"]
        for params in ({"q": "dragon"}, {"q": "dragon", "chatId": chat_id}):
            items = client.get(PREFIX + "/search", params=params).json()["items"]
            assert [i["where"] for i in items] == ["text"]
        found = client.get(PREFIX + "/chats", params={"q": "dragon"}).json()["items"]
        assert [i["chatId"] for i in found] == [chat_id]
    h = Harness(root, db_dir)  # the indexer opens the catalog: rebuilt
    h.close()
    assert schema(db_dir / CATALOG_FILE) == current[CATALOG_FILE]
    with TestClient(create_app(settings)) as client:

        def where(q: str) -> set[str]:
            response = client.get(PREFIX + "/search", params={"q": q})
            assert response.status_code == 200, response.text
            return {i["where"] for i in response.json()["items"]}

        assert where("北京") == {"text"}
        assert where("タワー") == {"tracker.place"}
        assert where("dragon") == {"text"}
        chats = client.get(PREFIX + "/chats", params={"q": "长城 dragon"}).json()["items"]
        assert len(chats) == 1
    # The extension database was rebuilt when a search first opened it.
    assert {db: schema(db_dir / db) for db in NEW_OBJECTS} == current
    for db, table in ((CATALOG_FILE, "messages_fts"), ("tracker.db", "data_fts")):
        with sqlite3.connect(db_dir / db) as conn:
            conn.execute(f"INSERT INTO {table}({table}, rank) VALUES ('integrity-check', 1)")


def test_rebuilt_once_then_left_alone(tmp_path: Path) -> None:
    root, db_dir = tmp_path / "st", tmp_path / "db"
    st_save(root / SOLO / "a.jsonl", chat())
    h = Harness(root, db_dir)
    h.scan()
    h.close()
    with sqlite3.connect(db_dir / CATALOG_FILE) as conn:
        # A marker row in the FTS5 config table survives an open that changes nothing.
        conn.execute("INSERT INTO messages_fts(messages_fts, rank) VALUES ('usermerge', 7)")
    Harness(root, db_dir).close()
    with sqlite3.connect(db_dir / CATALOG_FILE) as conn:
        kept = conn.execute("SELECT v FROM messages_fts_config WHERE k = 'usermerge'").fetchone()
    assert kept == (7,)


def test_a_new_namespace_is_searchable_at_once(tmp_path: Path) -> None:
    root, db_dir = tmp_path / "st", tmp_path / "db"
    path = root / SOLO / "a.jsonl"
    st_save(path, chat())
    h = Harness(root, db_dir)
    h.scan()
    settings = Settings.model_validate(
        {"storage": {"database_dir": str(db_dir)}, "sillytavern": {"data_root": None}}
    )
    with TestClient(create_app(settings)) as client:

        def found(q: str) -> set[str]:
            response = client.get(PREFIX + "/search", params={"q": q})
            return {i["where"] for i in response.json()["items"]}

        assert found("unicorn") == set()
        messages = chat()
        messages[2]["extra"] = {"bestiary": {"entry": "a unicorn appears"}}
        st_save(path, messages)
        h.scan()
        assert found("unicorn") == {"bestiary.entry"}  # no cache to wait for
    h.close()
