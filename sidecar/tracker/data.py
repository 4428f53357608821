"""The key/value data of one instance. Every change is one transaction and also touches the
instance's ``updatedAt``."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

import msgspec
from sqlalchemy import Connection, bindparam, select
from sqlalchemy.dialects.sqlite import insert

from sidecar.clock import utc_now_iso
from sidecar.errors import NotFound
from sidecar.ids import check_key
from sidecar.storage.extension_db import ExtensionDatabase
from sidecar.storage.schema import instance_data, instances
from sidecar.tracker.codec import decode, deep_merge, encode, raw
from sidecar.tracker.entities import DATA_ROWID, instance_row

KEY_NOT_FOUND = "Data key not found"
_CHUNK = 500  # keys per IN (...) list, far below SQLite's variable limit

_upsert = insert(instance_data)
_UPSERT = _upsert.on_conflict_do_update(
    index_elements=[instance_data.c.instance_id, instance_data.c.key],
    set_={"value": _upsert.excluded.value, "updated_at": _upsert.excluded.updated_at},
)


# Statements of the hot paths, built once (building a select costs more than running it).
_GET_ONE = select(instance_data.c.value).where(
    instance_data.c.instance_id == bindparam("instance_id"),
    instance_data.c.key == bindparam("key"),
)
_GET_ALL = (
    select(instance_data.c.key, instance_data.c.value)
    .where(instance_data.c.instance_id == bindparam("instance_id"))
    .order_by(DATA_ROWID)
)
_TOUCH = (
    instances.update()
    .where(instances.c.id == bindparam("instance_id"))
    .values(updated_at=bindparam("now"))
)


def _chunks(items: Sequence[str]) -> Iterator[Sequence[str]]:
    for start in range(0, len(items), _CHUNK):
        yield items[start : start + _CHUNK]


def _of(instance_id: str) -> Any:
    return instance_data.c.instance_id == instance_id


def _touch(conn: Connection, instance_id: str, now: str) -> None:
    """Check the instance exists (404 otherwise) and mark it changed."""
    if conn.execute(_TOUCH, {"instance_id": instance_id, "now": now}).rowcount == 0:
        raise NotFound("Instance not found")


def _upsert_values(
    conn: Connection, instance_id: str, items: Iterable[tuple[str, str]], now: str
) -> None:
    rows = [
        {
            "instance_id": instance_id,
            "key": key,
            "value": text,
            "created_at": now,
            "updated_at": now,
        }
        for key, text in items
    ]
    if rows:
        conn.execute(_UPSERT, rows)


def _delete_keys(conn: Connection, instance_id: str, keys: Sequence[str]) -> int:
    removed = 0
    for chunk in _chunks(keys):
        result = conn.execute(
            instance_data.delete().where(_of(instance_id), instance_data.c.key.in_(chunk))
        )
        removed += int(result.rowcount)
    return removed


def _checked(body: Mapping[str, Any]) -> list[tuple[str, str]]:
    return [(check_key(key), encode(value)) for key, value in body.items()]


# -- reads -------------------------------------------------------------------------------------


def get_all(db: ExtensionDatabase, instance_id: str) -> dict[str, Any]:
    with db.read() as conn:
        instance_row(conn, instance_id)
        rows = conn.execute(_GET_ALL, {"instance_id": instance_id}).all()
        return {key: raw(value) for key, value in rows}


def get_one(db: ExtensionDatabase, instance_id: str, key: str) -> msgspec.Raw:
    check_key(key)
    with db.read() as conn:
        text = conn.execute(_GET_ONE, {"instance_id": instance_id, "key": key}).scalar()
        if text is None:
            instance_row(conn, instance_id)
            raise NotFound(KEY_NOT_FOUND)
        return raw(text)


# -- writes ------------------------------------------------------------------------------------


def set_one(db: ExtensionDatabase, instance_id: str, key: str, value: Any) -> None:
    items = _checked({key: value})
    now = utc_now_iso()
    with db.write() as conn:
        _touch(conn, instance_id, now)
        _upsert_values(conn, instance_id, items, now)


def delete_one(db: ExtensionDatabase, instance_id: str, key: str) -> None:
    check_key(key)
    now = utc_now_iso()
    with db.write() as conn:
        _touch(conn, instance_id, now)
        if _delete_keys(conn, instance_id, [key]) == 0:
            raise NotFound(KEY_NOT_FOUND)


def delete_all(db: ExtensionDatabase, instance_id: str) -> int:
    now = utc_now_iso()
    with db.write() as conn:
        _touch(conn, instance_id, now)
        return int(conn.execute(instance_data.delete().where(_of(instance_id))).rowcount)


def override(db: ExtensionDatabase, instance_id: str, body: Mapping[str, Any]) -> None:
    """Afterwards the data is exactly ``body``; kept keys keep their ``createdAt``."""
    items = _checked(body)
    now = utc_now_iso()
    with db.write() as conn:
        _touch(conn, instance_id, now)
        existing = conn.execute(select(instance_data.c.key).where(_of(instance_id))).scalars()
        stale = [key for key in existing if key not in body]
        _delete_keys(conn, instance_id, stale)
        _upsert_values(conn, instance_id, items, now)


def merge(db: ExtensionDatabase, instance_id: str, body: Mapping[str, Any], *, deep: bool) -> None:
    """Each top-level key of ``body`` replaces that key; with ``deep`` nested objects merge."""
    items = _checked(body)
    now = utc_now_iso()
    with db.write() as conn:
        _touch(conn, instance_id, now)
        if deep:
            current: dict[str, Any] = {}
            for chunk in _chunks(list(body)):
                rows = conn.execute(
                    select(instance_data.c.key, instance_data.c.value).where(
                        _of(instance_id), instance_data.c.key.in_(chunk)
                    )
                )
                current.update((key, decode(text)) for key, text in rows)
            items = [
                (key, encode(deep_merge(current[key], value)) if key in current else text)
                for (key, text), value in zip(items, body.values(), strict=True)
            ]
        _upsert_values(conn, instance_id, items, now)


def remove(db: ExtensionDatabase, instance_id: str, keys: Sequence[str]) -> int:
    unique = list(dict.fromkeys(keys))
    now = utc_now_iso()
    with db.write() as conn:
        _touch(conn, instance_id, now)
        return _delete_keys(conn, instance_id, unique)
