"""Full-text indexes (SQLite FTS5), kept in sync with their tables by triggers.

* Catalog: ``messages_fts``, external content on ``messages.text`` (rowid = ``msg_uid``), so the
  text is stored once and ``snippet()`` reads it from ``messages``. The update trigger fires only
  on ``UPDATE OF text`` with a changed value: position moves cost nothing. The indexer writes
  messages with ``INSERT OR REPLACE``, whose implicit delete fires the delete trigger only under
  ``PRAGMA recursive_triggers=ON``; writer connections turn it on (``sidecar.storage.sqlite``).
* Extension databases: ``data_fts`` over the string values of ``message_data`` (a JSON string,
  indexed decoded), external content on the view ``data_fts_source`` (rowid = the rowid of
  ``message_data``, which its upserts keep). Other JSON types are not indexed.

Both use the ``unicode61`` tokenizer with diacritics folded. :func:`ensure_fts` runs when a
database is opened: it creates what is missing and rebuilds the index from the table once, so
databases created before full-text search get it on their next open.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, MetaData

from sidecar.storage import catalog_tables, indexed_tables

TOKENIZE = "tokenize='unicode61 remove_diacritics 2'"

# A JSON string value; CASE keeps json_type() away from text that is not valid JSON.
_IS_TEXT = "(CASE WHEN json_valid({v}) THEN json_type({v}) END = 'text')"

CATALOG_FTS = "messages_fts"
CATALOG_DDL = (
    f"CREATE VIRTUAL TABLE messages_fts USING fts5(text, content='messages', "
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
)

DATA_FTS = "data_fts"
_OLD_TEXT = _IS_TEXT.format(v="old.value")
_NEW_TEXT = _IS_TEXT.format(v="new.value")
DATA_DDL = (
    "CREATE VIEW data_fts_source AS SELECT rowid AS rid, json_extract(value, '$') AS text "
    f"FROM message_data WHERE {_IS_TEXT.format(v='value')}",
    f"CREATE VIRTUAL TABLE data_fts USING fts5(text, content='data_fts_source', "
    f"content_rowid='rid', {TOKENIZE})",
    f"CREATE TRIGGER data_fts_ai AFTER INSERT ON message_data WHEN {_NEW_TEXT} BEGIN "
    "INSERT INTO data_fts(rowid, text) VALUES (new.rowid, json_extract(new.value, '$')); END",
    f"CREATE TRIGGER data_fts_ad AFTER DELETE ON message_data WHEN {_OLD_TEXT} BEGIN "
    "INSERT INTO data_fts(data_fts, rowid, text) "
    "VALUES ('delete', old.rowid, json_extract(old.value, '$')); END",
    "CREATE TRIGGER data_fts_au AFTER UPDATE OF value ON message_data "
    "WHEN old.value IS NOT new.value BEGIN "
    "INSERT INTO data_fts(data_fts, rowid, text) "
    f"SELECT 'delete', old.rowid, json_extract(old.value, '$') WHERE {_OLD_TEXT}; "
    "INSERT INTO data_fts(rowid, text) "
    f"SELECT new.rowid, json_extract(new.value, '$') WHERE {_NEW_TEXT}; END",
)


def _exists(cursor: Any, name: str) -> bool:
    cursor.execute("SELECT 1 FROM sqlite_master WHERE name = ?", (name,))
    return cursor.fetchone() is not None


def _install(conn: Connection, fts: str, ddl: tuple[str, ...]) -> None:
    """Create ``fts`` and its triggers if ``fts`` is missing, then fill it from its table."""
    cursor = conn.connection.cursor()
    try:
        if _exists(cursor, fts):
            return
        for statement in ddl:
            cursor.execute(statement)
        cursor.execute(f"INSERT INTO {fts}({fts}) VALUES ('rebuild')")
    finally:
        cursor.close()


def ensure_fts(conn: Connection, metadata: MetaData) -> None:
    """Inside the transaction that opens a database: the full-text index of its family."""
    if metadata.tables.get("messages") is catalog_tables.messages:
        _install(conn, CATALOG_FTS, CATALOG_DDL)
    if metadata.tables.get("message_data") is indexed_tables.message_data:
        _install(conn, DATA_FTS, DATA_DDL)
