"""Full-text indexes (SQLite FTS5), kept in sync with their tables by triggers.

* Catalog: ``messages_fts`` over ``messages.text`` (rowid = ``msg_uid``) with a second column,
  ``chat``, holding one token per chat (``hex(chat_id)``): "does this chat have a message with
  these words" is then one FTS5 query (``chat : X AND text : (...)``), whatever the number of
  messages or the order their ids were given in. External content: the view
  ``messages_fts_source``, so the text is stored once and ``snippet()`` reads it from
  ``messages``. The update trigger fires only when the text or the chat changes: position moves
  cost nothing. The indexer writes messages with ``INSERT OR REPLACE``, whose implicit delete
  fires the delete trigger only under ``PRAGMA recursive_triggers=ON``; writer connections turn it
  on (``sidecar.storage.sqlite``).
* Extension databases: ``data_fts`` over the string values of ``message_data`` (a JSON string,
  indexed decoded), external content on the view ``data_fts_source`` (rowid = the rowid of
  ``message_data``, which its upserts keep). Other JSON types are not indexed.

Both use the ``unicode61`` tokenizer with diacritics folded, over text segmented for CJK scripts
(``sidecar.storage.segment``): each CJK character is a token, so any CJK substring is a phrase.
Only texts that have a CJK character differ from their segmented form; those store it once in a
side table (``messages_fts_seg``, ``data_fts_seg``) that the content views read. The views
therefore call no application function, and any SQLite client can read the index or check it
(``integrity-check``); the triggers call ``sidecar_segment`` (registered on every connection
sidecar opens) and never need it to delete.

:func:`ensure_fts` runs when a database is opened. When the index is missing, or was built by an
older version (its schema differs from the one below), it is dropped and rebuilt from the table
once, in the opening transaction: databases made before full-text search, or before CJK
segmentation, get the current index on their next open. The catalog also gets
``ix_messages_namespaces``, which lets ``namespaces_in_use`` read the distinct namespace lists
without scanning every message.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, MetaData

from sidecar.storage import catalog_tables, indexed_tables
from sidecar.storage.segment import SQL_FUNCTION as SEG

TOKENIZE = "tokenize='unicode61 remove_diacritics 2'"
REBUILD_HASH_BYTES, FTS5_DEFAULT_HASH_BYTES = 8 * 1024 * 1024, 1024 * 1024  # see _rebuild
# Benchmarks only (``benchmarks/query.py``): False builds the index as it was before CJK
# segmentation and the chat column, to measure what they cost side by side.
SEGMENT_CJK = True

# A JSON string value; CASE keeps json_type() away from text that is not valid JSON.
_IS_TEXT = "(CASE WHEN json_valid({v}) THEN json_type({v}) END = 'text')"
# A bulk load (``sidecar.indexer.bulk``) fills the catalog's segmentation table as it writes.
INSERT_MESSAGE_SEGMENT = "INSERT OR REPLACE INTO messages_fts_seg (msg_uid, text) VALUES (?, ?)"
NAMESPACE_INDEX = (
    "CREATE INDEX IF NOT EXISTS ix_messages_namespaces ON messages (namespaces) "
    "WHERE namespaces != '[]'"
)


@dataclass(frozen=True)
class FtsSchema:
    """One full-text index: its objects (name -> DDL) in creation order, and how to fill its
    segmentation side table from the indexed table before a rebuild."""

    table: str
    objects: tuple[tuple[str, str], ...]
    fill: str | None


def _catalog() -> FtsSchema:
    seg = "(SELECT text FROM messages_fts_seg WHERE msg_uid = {r}.msg_uid)"
    old = f"coalesce({seg.format(r='old')}, old.text), hex(old.chat_id)"
    delete = (
        "INSERT INTO messages_fts(messages_fts, rowid, text, chat) "
        f"VALUES ('delete', old.msg_uid, {old});"
    )
    # The LIMIT keeps SQLite from inlining the subquery, which would call the function twice.
    save_seg = (
        "INSERT OR REPLACE INTO messages_fts_seg(msg_uid, text) SELECT new.msg_uid, s FROM "
        f"(SELECT {SEG}(new.text) AS s LIMIT 1) WHERE s IS NOT NULL;"
    )
    insert = (
        "INSERT INTO messages_fts(rowid, text, chat) VALUES "
        f"(new.msg_uid, coalesce({seg.format(r='new')}, new.text), hex(new.chat_id));"
    )
    return FtsSchema(
        "messages_fts",
        (
            (
                "messages_fts_seg",
                "CREATE TABLE messages_fts_seg(msg_uid INTEGER PRIMARY KEY, text TEXT NOT NULL)",
            ),
            (
                "messages_fts_source",
                "CREATE VIEW messages_fts_source AS SELECT m.msg_uid AS rid, "
                "coalesce(s.text, m.text) AS text, hex(m.chat_id) AS chat FROM messages m "
                "LEFT JOIN messages_fts_seg s ON s.msg_uid = m.msg_uid WHERE m.text IS NOT NULL",
            ),
            (
                "messages_fts",
                "CREATE VIRTUAL TABLE messages_fts USING fts5(text, chat, "
                f"content='messages_fts_source', content_rowid='rid', {TOKENIZE})",
            ),
            (
                "messages_fts_ai",
                "CREATE TRIGGER messages_fts_ai AFTER INSERT ON messages "
                f"WHEN new.text IS NOT NULL BEGIN {save_seg} {insert} END",
            ),
            (
                "messages_fts_ad",
                "CREATE TRIGGER messages_fts_ad AFTER DELETE ON messages "
                f"WHEN old.text IS NOT NULL BEGIN {delete} "
                "DELETE FROM messages_fts_seg WHERE msg_uid = old.msg_uid; END",
            ),
            (
                "messages_fts_au",
                "CREATE TRIGGER messages_fts_au AFTER UPDATE OF text, chat_id ON messages "
                "WHEN old.text IS NOT new.text OR old.chat_id IS NOT new.chat_id BEGIN "
                "INSERT INTO messages_fts(messages_fts, rowid, text, chat) "
                f"SELECT 'delete', old.msg_uid, {old} WHERE old.text IS NOT NULL; "
                "DELETE FROM messages_fts_seg WHERE msg_uid = old.msg_uid; "
                f"{save_seg.replace('WHERE s IS', 'WHERE new.text IS NOT NULL AND s IS')} "
                "INSERT INTO messages_fts(rowid, text, chat) SELECT new.msg_uid, "
                f"coalesce({seg.format(r='new')}, new.text), hex(new.chat_id) "
                "WHERE new.text IS NOT NULL; END",
            ),
        ),
        f"INSERT INTO messages_fts_seg(msg_uid, text) SELECT msg_uid, s FROM "
        f"(SELECT msg_uid, {SEG}(text) AS s FROM messages WHERE text IS NOT NULL "
        "LIMIT -1) WHERE s IS NOT NULL",
    )


def _data() -> FtsSchema:
    value = "json_extract({r}.value, '$')"
    seg = "(SELECT text FROM data_fts_seg WHERE rid = {r}.rowid)"
    old = f"coalesce({seg.format(r='old')}, {value.format(r='old')})"
    new = f"coalesce({seg.format(r='new')}, {value.format(r='new')})"
    old_text, new_text = _IS_TEXT.format(v="old.value"), _IS_TEXT.format(v="new.value")
    save_seg = (
        "INSERT OR REPLACE INTO data_fts_seg(rid, text) SELECT new.rowid, s FROM "
        f"(SELECT {SEG}({value.format(r='new')}) AS s LIMIT 1) WHERE s IS NOT NULL;"
    )
    return FtsSchema(
        "data_fts",
        (
            (
                "data_fts_seg",
                "CREATE TABLE data_fts_seg(rid INTEGER PRIMARY KEY, text TEXT NOT NULL)",
            ),
            (
                "data_fts_source",
                "CREATE VIEW data_fts_source AS SELECT d.rowid AS rid, "
                f"coalesce(s.text, {value.format(r='d')}) AS text FROM message_data d "
                f"LEFT JOIN data_fts_seg s ON s.rid = d.rowid WHERE {_IS_TEXT.format(v='d.value')}",
            ),
            (
                "data_fts",
                "CREATE VIRTUAL TABLE data_fts USING fts5(text, content='data_fts_source', "
                f"content_rowid='rid', {TOKENIZE})",
            ),
            (
                "data_fts_ai",
                f"CREATE TRIGGER data_fts_ai AFTER INSERT ON message_data WHEN {new_text} BEGIN "
                f"{save_seg} INSERT INTO data_fts(rowid, text) VALUES (new.rowid, {new}); END",
            ),
            (
                "data_fts_ad",
                f"CREATE TRIGGER data_fts_ad AFTER DELETE ON message_data WHEN {old_text} BEGIN "
                f"INSERT INTO data_fts(data_fts, rowid, text) VALUES ('delete', old.rowid, {old}); "
                "DELETE FROM data_fts_seg WHERE rid = old.rowid; END",
            ),
            (
                "data_fts_au",
                "CREATE TRIGGER data_fts_au AFTER UPDATE OF value ON message_data "
                "WHEN old.value IS NOT new.value BEGIN "
                f"INSERT INTO data_fts(data_fts, rowid, text) SELECT 'delete', old.rowid, {old} "
                f"WHERE {old_text}; DELETE FROM data_fts_seg WHERE rid = old.rowid; "
                f"{save_seg.replace('WHERE s IS', f'WHERE {new_text} AND s IS')} "
                f"INSERT INTO data_fts(rowid, text) SELECT new.rowid, {new} WHERE {new_text}; END",
            ),
        ),
        f"INSERT INTO data_fts_seg(rid, text) SELECT rid, s FROM (SELECT rowid AS rid, "
        f"{SEG}({value.format(r='message_data')}) AS s FROM message_data "
        f"WHERE {_IS_TEXT.format(v='value')} LIMIT -1) WHERE s IS NOT NULL",
    )


# The indexes as they were before CJK segmentation and the chat column (benchmarks only).
_OLD_TEXT, _NEW_TEXT = _IS_TEXT.format(v="old.value"), _IS_TEXT.format(v="new.value")
_PLAIN_CATALOG = (
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
)
_PLAIN_DATA = (
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


def _plain(table: str, ddl: tuple[str, ...]) -> FtsSchema:
    def name(statement: str) -> str:  # CREATE VIEW|TRIGGER x ..., CREATE VIRTUAL TABLE x ...
        words = statement.split()
        return words[3] if words[1] == "VIRTUAL" else words[2]

    return FtsSchema(table, tuple((name(statement), statement) for statement in ddl), None)


# Every name either schema may have created, dropped before a rebuild (triggers first).
_ALL_NAMES = {
    "messages_fts": ("messages_fts_ai", "messages_fts_ad", "messages_fts_au", "messages_fts",
                     "messages_fts_source", "messages_fts_seg"),
    "data_fts": ("data_fts_ai", "data_fts_ad", "data_fts_au", "data_fts", "data_fts_source",
                 "data_fts_seg"),
}  # fmt: skip
DATA_FTS_OBJECTS = _ALL_NAMES["data_fts"]  # every object of an extension database's index


def _stored(cursor: Any, names: tuple[str, ...]) -> dict[str, tuple[str, str]]:
    marks = ", ".join("?" * len(names))
    cursor.execute(f"SELECT name, type, sql FROM sqlite_master WHERE name IN ({marks})", names)
    return {name: (kind, sql) for name, kind, sql in cursor.fetchall()}


def _install(conn: Connection, schema: FtsSchema, *, segments_filled: bool = False) -> None:
    """Leave ``schema`` in place: kept when stored exactly so; else drop whatever an older version
    made, create it and fill the index. ``segments_filled``: only triggers missing (a bulk load
    dropped them) and the side table filled by the writer: put them back and rebuild."""
    cursor = conn.connection.cursor()
    try:
        names = _ALL_NAMES[schema.table]
        stored = _stored(cursor, names)
        current = {name: sql for name, (_, sql) in stored.items()}
        wanted = dict(schema.objects)
        if current == wanted:
            return
        missing = [name for name in wanted if name not in current]
        if (
            segments_filled
            and current.items() <= wanted.items()
            and all(wanted[name].startswith("CREATE TRIGGER") for name in missing)
        ):
            for name in missing:
                cursor.execute(wanted[name])
            _rebuild(cursor, schema.table)
            return
        for name in names:
            if name in stored:
                kind = stored[name][0]
                cursor.execute(f"DROP {'TABLE' if kind == 'table' else kind.upper()} {name}")
        for _, statement in schema.objects:
            cursor.execute(statement)
        if schema.fill is not None:
            cursor.execute(schema.fill)
        _rebuild(cursor, schema.table)
    finally:
        cursor.close()


def _rebuild(cursor: Any, table: str) -> None:
    """Rebuild ``table``'s index with FTS5's ``hashsize`` (terms kept in memory per segment) at
    REBUILD_HASH_BYTES (the catalog: 2.0 s instead of 2.4 s at 1 MB), then back at FTS5's own."""
    config = f"INSERT INTO {table}({table}, rank) VALUES ('hashsize', "
    cursor.execute(f"{config}{REBUILD_HASH_BYTES})")
    cursor.execute(f"INSERT INTO {table}({table}) VALUES ('rebuild')")
    cursor.execute(f"{config}{FTS5_DEFAULT_HASH_BYTES})")


def ensure_fts(conn: Connection, metadata: MetaData, *, segments_filled: bool = False) -> None:
    """Inside the transaction that opens a database: the full-text index of its family.
    ``segments_filled``: see ``_install`` (the catalog's index only)."""
    if metadata.tables.get("messages") is catalog_tables.messages:
        schema = _catalog() if SEGMENT_CJK else _plain("messages_fts", _PLAIN_CATALOG)
        _install(conn, schema, segments_filled=segments_filled and SEGMENT_CJK)
        conn.exec_driver_sql(NAMESPACE_INDEX)
    if metadata.tables.get("message_data") is indexed_tables.message_data:
        _install(conn, _data() if SEGMENT_CJK else _plain("data_fts", _PLAIN_DATA))
