"""The key/value data of one instance. Every change is one transaction and also touches the
instance's ``updatedAt``.

Plain SQL on the database's kept-open ``sqlite3`` connections, like :mod:`sidecar.tracker.entities`.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import msgspec

from sidecar.clock import utc_now_iso
from sidecar.errors import NotFound
from sidecar.ids import check_key
from sidecar.storage.connections import WouldBlock
from sidecar.storage.extension_db import ExtensionDatabase
from sidecar.tracker.codec import decode, deep_merge, encode, raw
from sidecar.tracker.entities import DATA_OF_INSTANCE, INSTANCE_NOT_FOUND, instance_row

KEY_NOT_FOUND = "Data key not found"
_CHUNK = 500  # keys per IN (...) list, far below SQLite's variable limit
# A write of more JSON text than this never runs on the event loop (``block=False`` raises
# WouldBlock): its encoding was cheap, SQLite's work grows with it.
LOOP_WRITE_CHARS = 64 * 1024

GET_ONE = "SELECT value FROM instance_data WHERE instance_id = ? AND key = ?"
INSTANCE_EXISTS = "SELECT 1 FROM instances WHERE id = ?"
TOUCH = "UPDATE instances SET updated_at = ? WHERE id = ?"
UPSERT = (
    "INSERT INTO instance_data (instance_id, key, value, created_at, updated_at) "
    "VALUES (?, ?, ?, ?, ?) ON CONFLICT (instance_id, key) "
    "DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at"
)
KEYS_OF = "SELECT key FROM instance_data WHERE instance_id = ?"
DELETE_KEY = "DELETE FROM instance_data WHERE instance_id = ? AND key = ?"
DELETE_ALL = "DELETE FROM instance_data WHERE instance_id = ?"


def _chunks(items: Sequence[str]) -> Iterator[Sequence[str]]:
    for start in range(0, len(items), _CHUNK):
        yield items[start : start + _CHUNK]


def _touch(conn: sqlite3.Connection, instance_id: str, now: str) -> None:
    """Check the instance exists (404 otherwise) and mark it changed."""
    if conn.execute(TOUCH, (now, instance_id)).rowcount == 0:
        raise NotFound(INSTANCE_NOT_FOUND)


def _upsert(
    conn: sqlite3.Connection, instance_id: str, items: Sequence[tuple[str, str]], now: str
) -> None:
    if len(items) == 1:
        key, text = items[0]
        conn.execute(UPSERT, (instance_id, key, text, now, now))
    elif items:
        conn.executemany(UPSERT, [(instance_id, key, text, now, now) for key, text in items])


def _delete_keys(conn: sqlite3.Connection, instance_id: str, keys: Sequence[str]) -> int:
    if not keys:
        return 0
    cursor = conn.executemany(DELETE_KEY, [(instance_id, key) for key in keys])
    return int(cursor.rowcount)  # summed over the rows of executemany


def _current(conn: sqlite3.Connection, instance_id: str, keys: Sequence[str]) -> dict[str, Any]:
    """Decoded values of those of ``keys`` the instance has."""
    current: dict[str, Any] = {}
    for chunk in _chunks(keys):
        marks = ", ".join("?" * len(chunk))
        sql = f"SELECT key, value FROM instance_data WHERE instance_id = ? AND key IN ({marks})"
        rows = conn.execute(sql, (instance_id, *chunk))
        current.update((key, decode(text)) for key, text in rows)
    return current


def _checked(body: Mapping[str, Any], block: bool) -> list[tuple[str, str]]:
    items = [(check_key(key), encode(value)) for key, value in body.items()]
    if not block and sum(len(key) + len(text) for key, text in items) > LOOP_WRITE_CHARS:
        raise WouldBlock
    return items


# -- reads -------------------------------------------------------------------------------------


def get_all(db: ExtensionDatabase, instance_id: str) -> dict[str, Any]:
    with db.read_raw() as conn:
        instance_row(conn, instance_id)
        return {key: raw(value) for key, value in conn.execute(DATA_OF_INSTANCE, (instance_id,))}


def get_one(db: ExtensionDatabase, instance_id: str, key: str) -> msgspec.Raw:
    check_key(key)
    row = db.read_one(GET_ONE, (instance_id, key))
    if row is not None:
        return raw(row[0])
    with db.read_raw() as conn:  # which is missing, the key or the instance: one snapshot
        row = conn.execute(GET_ONE, (instance_id, key)).fetchone()
        if row is not None:  # written since the first look
            return raw(row[0])
        if conn.execute(INSTANCE_EXISTS, (instance_id,)).fetchone() is None:
            raise NotFound(INSTANCE_NOT_FOUND)
        raise NotFound(KEY_NOT_FOUND)


# -- writes: those taking ``block`` may be asked not to wait (see Database.write_raw) ---------


def set_one(
    db: ExtensionDatabase, instance_id: str, key: str, value: Any, *, block: bool = True
) -> None:
    items = _checked({key: value}, block)
    now = utc_now_iso()
    with db.write_raw(block=block) as conn:
        _touch(conn, instance_id, now)
        _upsert(conn, instance_id, items, now)


def delete_one(db: ExtensionDatabase, instance_id: str, key: str, *, block: bool = True) -> None:
    check_key(key)
    now = utc_now_iso()
    with db.write_raw(block=block) as conn:
        _touch(conn, instance_id, now)
        if _delete_keys(conn, instance_id, [key]) == 0:
            raise NotFound(KEY_NOT_FOUND)


def delete_all(db: ExtensionDatabase, instance_id: str) -> int:
    now = utc_now_iso()
    with db.write_raw() as conn:
        _touch(conn, instance_id, now)
        return int(conn.execute(DELETE_ALL, (instance_id,)).rowcount)


def override(
    db: ExtensionDatabase, instance_id: str, body: Mapping[str, Any], *, block: bool = True
) -> None:
    """Afterwards the data is exactly ``body``; kept keys keep their ``createdAt``."""
    items = _checked(body, block)
    now = utc_now_iso()
    with db.write_raw(block=block) as conn:
        _touch(conn, instance_id, now)
        stale = [key for (key,) in conn.execute(KEYS_OF, (instance_id,)) if key not in body]
        _delete_keys(conn, instance_id, stale)
        _upsert(conn, instance_id, items, now)


def merge(
    db: ExtensionDatabase,
    instance_id: str,
    body: Mapping[str, Any],
    *,
    deep: bool,
    block: bool = True,
) -> None:
    """Each top-level key of ``body`` replaces that key; with ``deep`` nested objects merge
    (a deep merge always may wait: the stored values it decodes can be of any size)."""
    if deep and not block:
        raise WouldBlock
    items = _checked(body, block)
    now = utc_now_iso()
    with db.write_raw(block=block) as conn:
        _touch(conn, instance_id, now)
        if deep:
            current = _current(conn, instance_id, list(body))
            items = [
                (key, encode(deep_merge(current[key], value)) if key in current else text)
                for (key, text), value in zip(items, body.values(), strict=True)
            ]
        _upsert(conn, instance_id, items, now)


def remove(
    db: ExtensionDatabase, instance_id: str, keys: Sequence[str], *, block: bool = True
) -> int:
    unique = list(dict.fromkeys(keys))
    now = utc_now_iso()
    with db.write_raw(block=block) as conn:
        _touch(conn, instance_id, now)
        return _delete_keys(conn, instance_id, unique)
