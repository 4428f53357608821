"""Bring an extension database's indexed rows for some messages to a wanted state.

Every change is decided by comparing with the rows actually stored, so applying the same update
twice changes nothing the second time: an update interrupted by a crash is finished by simply
running it again. A value that is replaced or removed goes to ``data_history`` first.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

from sqlalchemy import Connection, select
from sqlalchemy.dialects.sqlite import insert

from sidecar.indexer.parse import DataItem
from sidecar.storage.indexed_tables import chat_data, data_history, message_data
from sidecar.storage.sqlite import executemany

_CHUNK = 500

_KEY = "chat_id = ? AND msg_uid = ? AND swipe = ? AND namespace = ? AND key = ?"
_DELETE = f"DELETE FROM message_data WHERE {_KEY}"
_UPSERT = (
    "INSERT INTO message_data (chat_id, msg_uid, swipe, namespace, key, value, selected, seen_at) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (chat_id, msg_uid, swipe, namespace, key) "
    "DO UPDATE SET value = excluded.value, selected = excluded.selected, seen_at = excluded.seen_at"
)
_HISTORY = (
    "INSERT INTO data_history (chat_id, msg_uid, position, swipe, namespace, key, value, "
    "seen_at, replaced_at, reason) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
_chat_ins = insert(chat_data)
_CHAT_UPSERT = _chat_ins.on_conflict_do_update(
    index_elements=["chat_id", "namespace", "key"],
    set_={"value": _chat_ins.excluded.value, "seen_at": _chat_ins.excluded.seen_at},
)


@dataclass
class SyncCounts:
    written: int = 0
    deleted: int = 0
    history: int = 0
    changes: list[DataChange] = field(default_factory=list)


class DataChange(NamedTuple):
    """One key that changed, for the change feed (``position``/``swipe`` None: chat-level)."""

    position: int | None
    swipe: int | None
    namespace: str
    key: str
    kind: str  # added | changed | removed


def _chunks(items: Sequence[int]) -> Iterator[Sequence[int]]:
    for start in range(0, len(items), _CHUNK):
        yield items[start : start + _CHUNK]


@dataclass(frozen=True)
class MessageTarget:
    """Wanted data of one message (``items`` empty and ``exists`` False: the message is gone;
    ``fresh``: the id is new, so nothing can be stored for it yet and the lookup is skipped)."""

    msg_uid: int
    position: int | None
    items: Sequence[DataItem]
    exists: bool = True
    fresh: bool = False


def sync_messages(
    conn: Connection,
    chat_id: str,
    targets: Sequence[MessageTarget],
    *,
    now: str,
    gone_reason: str,
    record: bool = True,
) -> SyncCounts:
    """Bring the rows of ``targets`` in line; ``record``: list each changed key for the change
    feed (not while indexing a chat for the first time, which is announced once as a whole)."""
    by_uid = {target.msg_uid: target for target in targets}
    stored: dict[tuple[int, int, str, str], tuple[str, bool, str]] = {}
    for chunk in _chunks([t.msg_uid for t in targets if not t.fresh]):
        rows = conn.execute(
            select(
                message_data.c.msg_uid,
                message_data.c.swipe,
                message_data.c.namespace,
                message_data.c.key,
                message_data.c.value,
                message_data.c.selected,
                message_data.c.seen_at,
            ).where(message_data.c.chat_id == chat_id, message_data.c.msg_uid.in_(chunk))
        ).all()
        for uid, swipe, namespace, key, value, selected, seen_at in rows:
            stored[(uid, swipe, namespace, key)] = (value, bool(selected), seen_at)
    upserts: list[tuple[object, ...]] = []
    history: list[tuple[object, ...]] = []
    changes: list[DataChange] = []
    wanted_keys: set[tuple[int, int, str, str]] = set()
    for target in targets:
        for item in target.items:
            ident = (target.msg_uid, item.swipe, item.namespace, item.key)
            wanted_keys.add(ident)
            old = stored.get(ident)
            if old is not None and old[0] == item.value and old[1] == item.selected:
                continue
            if old is not None and old[0] != item.value:
                history.append(
                    _history(
                        chat_id,
                        target,
                        (item.swipe, item.namespace, item.key),
                        old,
                        now=now,
                        reason="changed",
                    )
                )
            seen_at = old[2] if old is not None and old[0] == item.value else now
            if record:
                kind = "added" if old is None else "changed"
                changes.append(
                    DataChange(target.position, item.swipe, item.namespace, item.key, kind)
                )
            upserts.append((chat_id, target.msg_uid, item.swipe, item.namespace, item.key,
                            item.value, item.selected, seen_at))  # fmt: skip
    deletes = [ident for ident in stored if ident not in wanted_keys]
    for uid, swipe, namespace, key in deletes:
        target = by_uid[uid]
        reason = "removed" if target.exists else gone_reason
        if record:
            changes.append(DataChange(target.position, swipe, namespace, key, "removed"))
        history.append(
            _history(
                chat_id,
                target,
                (swipe, namespace, key),
                stored[(uid, swipe, namespace, key)],
                now=now,
                reason=reason,
            )
        )
    executemany(conn, _HISTORY, history)
    executemany(conn, _DELETE, [(chat_id, *ident) for ident in deletes])
    executemany(conn, _UPSERT, upserts)
    return SyncCounts(len(upserts), len(deletes), len(history), changes)


def _history(
    chat_id: str,
    target: MessageTarget,
    where: tuple[int, str, str],
    old: tuple[str, bool, str],
    *,
    now: str,
    reason: str,
) -> tuple[object, ...]:
    swipe, namespace, key = where
    return (chat_id, target.msg_uid, target.position, swipe, namespace, key, old[0], old[2],
            now, reason)  # fmt: skip


def drop_unknown_messages(conn: Connection, chat_id: str, known: Iterable[int]) -> int:
    """Delete rows of message ids the catalog does not know (left by an interrupted update that
    never committed its catalog side). They never existed for a reader of the catalog, so they
    get no history."""
    keep = set(known)
    present = (
        conn.execute(
            select(message_data.c.msg_uid).where(message_data.c.chat_id == chat_id).distinct()
        )
        .scalars()
        .all()
    )
    stray = [uid for uid in present if uid not in keep]
    for chunk in _chunks(stray):
        conn.execute(
            message_data.delete().where(
                message_data.c.chat_id == chat_id, message_data.c.msg_uid.in_(chunk)
            )
        )
    return len(stray)


def sync_chat(
    conn: Connection,
    chat_id: str,
    wanted: Mapping[tuple[str, str], str],
    *,
    now: str,
    gone_reason: str = "removed",
) -> SyncCounts:
    """Chat-level data (``chat_metadata.<namespace>``) of one chat in this database."""
    rows = conn.execute(
        select(
            chat_data.c.namespace, chat_data.c.key, chat_data.c.value, chat_data.c.seen_at
        ).where(chat_data.c.chat_id == chat_id)
    ).all()
    stored = {(ns, key): (value, seen_at) for ns, key, value, seen_at in rows}
    upserts = [
        {"chat_id": chat_id, "namespace": ns, "key": key, "value": value, "seen_at": now}
        for (ns, key), value in wanted.items()
        if (ns, key) not in stored or stored[(ns, key)][0] != value
    ]
    history = [
        {
            "chat_id": chat_id,
            "msg_uid": None,
            "position": None,
            "swipe": None,
            "namespace": ns,
            "key": key,
            "value": value,
            "seen_at": seen_at,
            "replaced_at": now,
            "reason": "changed" if (ns, key) in wanted else gone_reason,
        }
        for (ns, key), (value, seen_at) in stored.items()
        if wanted.get((ns, key)) != value
    ]
    gone = [ident for ident in stored if ident not in wanted]
    if history:
        conn.execute(data_history.insert(), history)
    for ns, key in gone:
        conn.execute(
            chat_data.delete().where(
                chat_data.c.chat_id == chat_id, chat_data.c.namespace == ns, chat_data.c.key == key
            )
        )
    if upserts:
        conn.execute(_CHAT_UPSERT, upserts)
    changes = [
        DataChange(None, None, ns, key, "added" if (ns, key) not in stored else "changed")
        for ns, key in ((row["namespace"], row["key"]) for row in upserts)
    ]
    changes += [DataChange(None, None, ns, key, "removed") for ns, key in gone]
    return SyncCounts(len(upserts), len(gone), len(history), changes)


def delete_chat_rows(conn: Connection, chat_id: str) -> None:
    """Everything indexed for a chat in this database, history included (used when a duplicate
    record of a renamed chat is merged into the original)."""
    for table in (message_data, chat_data, data_history):
        conn.execute(table.delete().where(table.c.chat_id == chat_id))


def prune_history(conn: Connection, replaced_before: str) -> int:
    """Forget history replaced before the given ISO time (``index.history_retention_days``)."""
    result = conn.execute(data_history.delete().where(data_history.c.replaced_at < replaced_before))
    return int(result.rowcount)
