"""After a change of which namespaces are indexed and where: put every namespace's rows where the
settings now send it, before any chat is re-derived.

* A namespace now mapped to another extension database (``index.namespace_map``) takes all its
  rows there: current values and their history, so its history stays readable where it is
  queried.
* A namespace no longer indexed (``index.namespaces``/``exclude_namespaces``) has its current
  values moved into ``data_history`` (reason ``unindexed``, with the position each message had):
  nothing reads them as current any more, and nothing is lost. Its older history stays. If it is
  indexed again later, its values come back from the files as new values.

Each step is one small transaction per database and can be repeated: rows already copied are
not copied twice, so a pass interrupted by a crash is finished by the next one.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from sqlalchemy import Connection, select

from sidecar.clock import utc_now_iso
from sidecar.errors import SidecarError
from sidecar.indexer.namespaces import NamespacePolicy
from sidecar.indexer.update_state import Stores
from sidecar.storage.catalog_tables import messages
from sidecar.storage.extension_db import ExtensionDatabase
from sidecar.storage.sqlite import executemany, fetchall

log = logging.getLogger(__name__)

CHUNK = 2000
UNINDEXED = "unindexed"
_TABLES = ("message_data", "chat_data", "data_history")
_MESSAGE_COLUMNS = "chat_id, msg_uid, swipe, namespace, key, value, selected, seen_at"
_CHAT_COLUMNS = "chat_id, namespace, key, value, seen_at"
_HISTORY_COLUMNS = (
    "chat_id, msg_uid, position, swipe, namespace, key, value, seen_at, replaced_at, reason"
)
_INSERT_MESSAGE = (
    f"INSERT OR IGNORE INTO message_data ({_MESSAGE_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
)
_INSERT_CHAT = f"INSERT OR IGNORE INTO chat_data ({_CHAT_COLUMNS}) VALUES (?, ?, ?, ?, ?)"
_SAME_HISTORY = (
    "chat_id = ? AND msg_uid IS ? AND position IS ? AND swipe IS ? AND namespace = ? AND key = ? "
    "AND value = ? AND seen_at = ? AND replaced_at = ? AND reason = ?"
)
_INSERT_HISTORY = (
    f"INSERT INTO data_history ({_HISTORY_COLUMNS}) SELECT ?, ?, ?, ?, ?, ?, ?, ?, ?, ? "
    f"WHERE NOT EXISTS (SELECT 1 FROM data_history WHERE {_SAME_HISTORY})"
)


def relocate_namespaces(stores: Stores, policy: NamespacePolicy) -> int:
    """Bring every extension database in line with ``policy``; returns how many namespaces were
    moved or retired."""
    done = 0
    for ext in stores.extensions():
        db = _database(stores, ext)
        if db is None:
            continue
        with db.read() as conn:
            names = [
                str(n)
                for t in _TABLES
                for n in _column(conn, f"SELECT DISTINCT namespace FROM {t}")
            ]
        for namespace in sorted(set(names)):
            target = policy.extension_for(namespace)
            if target == ext:
                continue
            dest = _database(stores, target) if target is not None else None
            if dest is not None and dest.path != db.path:
                _move(db, dest, namespace)
                log.info("namespace %s: its rows moved from %s to %s", namespace, db.path.name,
                         dest.path.name)  # fmt: skip
                done += 1
            elif _retire(stores, db, namespace):
                log.info("namespace %s is no longer indexed: its values in %s are kept as "
                         "history", namespace, db.path.name)  # fmt: skip
                done += 1
    return done


def _database(stores: Stores, ext: str) -> ExtensionDatabase | None:
    try:
        return stores.database_for(ext)
    except SidecarError as exc:  # not a usable database: nothing can be moved in or out
        log.warning("cannot relocate indexed data of %s: %s", ext, exc)
        return None


def _column(conn: Connection, sql: str, params: Sequence[object] = ()) -> list[object]:
    return [row[0] for row in fetchall(conn, sql, params)]


def _move(source: ExtensionDatabase, dest: ExtensionDatabase, namespace: str) -> None:
    """Copy the namespace's rows into ``dest`` a chunk at a time, each chunk deleted from
    ``source`` only after ``dest`` committed it."""
    plans = (
        ("message_data", _MESSAGE_COLUMNS, _INSERT_MESSAGE),
        ("chat_data", _CHAT_COLUMNS, _INSERT_CHAT),
        ("data_history", _HISTORY_COLUMNS, _INSERT_HISTORY),
    )
    for table, columns, insert in plans:
        while True:
            with source.read() as conn:
                rows = fetchall(
                    conn,
                    f"SELECT rowid, {columns} FROM {table} WHERE namespace = ? LIMIT {CHUNK}",
                    (namespace,),
                )
            if not rows:
                break
            values = [tuple(row[1:]) for row in rows]
            if table == "data_history":
                values = [(*v, *v) for v in values]  # the row, then the same for NOT EXISTS
            with dest.write() as conn:
                executemany(conn, insert, values)
            with source.write() as conn:
                executemany(conn, f"DELETE FROM {table} WHERE rowid = ?", [(r[0],) for r in rows])


def _retire(stores: Stores, db: ExtensionDatabase, namespace: str) -> bool:
    """Move the namespace's current values into its history; False when it had none."""
    now = utc_now_iso()
    retired = False
    while True:
        with db.read() as conn:
            rows = fetchall(
                conn,
                f"SELECT rowid, {_MESSAGE_COLUMNS} FROM message_data WHERE namespace = ? "
                f"LIMIT {CHUNK}",
                (namespace,),
            )
        if not rows:
            break
        positions = _positions(stores, sorted({row[2] for row in rows}))
        history = [
            (chat, uid, positions.get(uid), swipe, ns, key, value, seen, now, UNINDEXED)
            for _rowid, chat, uid, swipe, ns, key, value, _selected, seen in rows
        ]
        with db.write() as conn:
            executemany(conn, f"INSERT INTO data_history ({_HISTORY_COLUMNS}) VALUES "
                        "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", history)  # fmt: skip
            executemany(conn, "DELETE FROM message_data WHERE rowid = ?", [(r[0],) for r in rows])
        retired = True
    with db.write() as conn:
        rows = fetchall(
            conn, f"SELECT {_CHAT_COLUMNS} FROM chat_data WHERE namespace = ?", (namespace,)
        )
        history = [
            (chat, None, None, None, ns, key, value, seen, now, UNINDEXED)
            for chat, ns, key, value, seen in rows
        ]
        executemany(conn, f"INSERT INTO data_history ({_HISTORY_COLUMNS}) VALUES "
                    "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", history)  # fmt: skip
        conn.exec_driver_sql("DELETE FROM chat_data WHERE namespace = ?", (namespace,))
    return retired or bool(rows)


def _positions(stores: Stores, uids: list[object]) -> dict[object, int]:
    """msg_uid -> the position the catalog has for it now."""
    found: dict[object, int] = {}
    with stores.catalog.read() as conn:
        for start in range(0, len(uids), 500):
            chunk = uids[start : start + 500]
            query = select(messages.c.msg_uid, messages.c.position).where(
                messages.c.msg_uid.in_(chunk)
            )
            found.update((uid, position) for uid, position in conn.execute(query))
    return found
