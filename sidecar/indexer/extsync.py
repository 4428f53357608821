"""Bring an extension database's indexed rows for some messages to a wanted state.

Every change is decided by comparing with the rows actually stored, so applying the same update
twice changes nothing the second time: an update interrupted by a crash is finished by simply
running it again. A value that is replaced or removed goes to ``data_history`` first.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass

from sqlalchemy import Connection, and_, bindparam, select
from sqlalchemy.dialects.sqlite import insert

from sidecar.indexer.parse import DataItem
from sidecar.storage.indexed_tables import chat_data, data_history, message_data

_CHUNK = 500

_DELETE = message_data.delete().where(
    and_(
        message_data.c.chat_id == bindparam("c"),
        message_data.c.msg_uid == bindparam("u"),
        message_data.c.swipe == bindparam("s"),
        message_data.c.namespace == bindparam("n"),
        message_data.c.key == bindparam("k"),
    )
)
_ins = insert(message_data)
_UPSERT = _ins.on_conflict_do_update(
    index_elements=["chat_id", "msg_uid", "swipe", "namespace", "key"],
    set_={
        "value": _ins.excluded.value,
        "selected": _ins.excluded.selected,
        "seen_at": _ins.excluded.seen_at,
    },
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


def _chunks(items: Sequence[int]) -> Iterator[Sequence[int]]:
    for start in range(0, len(items), _CHUNK):
        yield items[start : start + _CHUNK]


@dataclass(frozen=True)
class MessageTarget:
    """Wanted data of one message (``items`` empty and ``exists`` False: the message is gone)."""

    msg_uid: int
    position: int | None
    items: Sequence[DataItem]
    exists: bool = True


def sync_messages(
    conn: Connection,
    chat_id: str,
    targets: Sequence[MessageTarget],
    *,
    now: str,
    gone_reason: str,
) -> SyncCounts:
    by_uid = {target.msg_uid: target for target in targets}
    stored: dict[tuple[int, int, str, str], tuple[str, bool, str]] = {}
    for chunk in _chunks(list(by_uid)):
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
    upserts: list[dict[str, object]] = []
    history: list[dict[str, object]] = []
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
            upserts.append(
                {
                    "chat_id": chat_id,
                    "msg_uid": target.msg_uid,
                    "swipe": item.swipe,
                    "namespace": item.namespace,
                    "key": item.key,
                    "value": item.value,
                    "selected": item.selected,
                    "seen_at": seen_at,
                }
            )
    deletes = [ident for ident in stored if ident not in wanted_keys]
    for uid, swipe, namespace, key in deletes:
        target = by_uid[uid]
        reason = "removed" if target.exists else gone_reason
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
    if history:
        conn.execute(data_history.insert(), history)
    if deletes:
        conn.execute(
            _DELETE, [{"c": chat_id, "u": u, "s": s, "n": n, "k": k} for u, s, n, k in deletes]
        )
    if upserts:
        conn.execute(_UPSERT, upserts)
    return SyncCounts(len(upserts), len(deletes), len(history))


def _history(
    chat_id: str,
    target: MessageTarget,
    where: tuple[int, str, str],
    old: tuple[str, bool, str],
    *,
    now: str,
    reason: str,
) -> dict[str, object]:
    swipe, namespace, key = where
    return {
        "chat_id": chat_id,
        "msg_uid": target.msg_uid,
        "position": target.position,
        "swipe": swipe,
        "namespace": namespace,
        "key": key,
        "value": old[0],
        "seen_at": old[2],
        "replaced_at": now,
        "reason": reason,
    }


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
    return SyncCounts(len(upserts), len(gone), len(history))


def delete_chat_rows(conn: Connection, chat_id: str) -> None:
    """Everything indexed for a chat in this database, history included (used when a duplicate
    record of a renamed chat is merged into the original)."""
    for table in (message_data, chat_data, data_history):
        conn.execute(table.delete().where(table.c.chat_id == chat_id))


def prune_history(conn: Connection, replaced_before: str) -> int:
    """Forget history replaced before the given ISO time (``index.history_retention_days``)."""
    result = conn.execute(data_history.delete().where(data_history.c.replaced_at < replaced_before))
    return int(result.rowcount)
