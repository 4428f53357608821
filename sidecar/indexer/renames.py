"""Recognising a renamed chat, so it keeps its ``chatId``, its versions and its value history.

The rule (the README's "Chat identity"):

* A file at a path the catalog knows is that chat, whatever its content (a chat whose file comes
  back at its own path is the same chat again).
* A move the watcher saw (``mv``, a folder rename: inotify and polling both report the pair) moves
  the chat at the source path to the destination. No content check: it is the same file.
* Otherwise a new file is a renamed chat only when its content equals that of a chat whose file
  vanished within ``index.rename_window_seconds`` of it appearing (SillyTavern renames a chat, and
  a character's chat folder, by copying then deleting; polling sees any move that way). Times are
  when sidecar observed each change (the watcher's event, or the start of a full pass), not when
  it got round to indexing it, so a backlog does not break the pairing.
* Never from a chat that went missing longer ago, and never a chat that was live: two files with
  the same content (twins) stay two chats, and deleting one marks exactly that one missing.

A copy indexed before its original vanished (the watcher saw the copy first) is merged into the
original, which keeps its id and takes the copy's place; the copy's own rows go. That merge marks
the copy pending first, so an interrupted merge is finished by the next pass.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

import msgspec
from sqlalchemy import Connection, desc, select

from sidecar.clock import utc_now_iso
from sidecar.indexer import extsync
from sidecar.indexer.feed import announce_chat
from sidecar.indexer.update_state import Stores, UpdateSettings
from sidecar.sillytavern.discovery import ChatLocation
from sidecar.sillytavern.messages import chat_namespaces
from sidecar.storage.catalog_tables import chats, messages, problems, versions

log = logging.getLogger(__name__)


def iso_at(seconds: float) -> str:
    """An epoch time as the catalog writes times (``utc_now_iso``'s form, sorting in time order)."""
    moment = datetime.fromtimestamp(seconds, UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def location_values(loc: ChatLocation) -> dict[str, Any]:
    """The catalog columns that say where a chat's file is."""
    group = loc.group
    return {
        "rel_path": loc.relative_path,
        "file_name": loc.file_name,
        "user": loc.user,
        "kind": loc.kind,
        "character": loc.character,
        "group_id": group.group_id if group else None,
        "group_name": group.name if group else None,
        "group_members": msgspec.json.encode(list(group.members)).decode() if group else None,
    }


def state_back(conn: Connection, chat_id: str) -> str:
    """The state of a chat whose file is back: shrunk stays shrunk, missing becomes ok."""
    state = conn.execute(select(chats.c.state).where(chats.c.chat_id == chat_id)).scalar()
    return "shrunk" if state == "shrunk" else "ok"


def adopt_vanished(
    conn: Connection, loc: ChatLocation, file_hash: bytes, observed: float, window: float
) -> tuple[Any, str | None]:
    """A new file whose content equals a chat that vanished within ``window`` seconds of
    ``observed`` is that chat, renamed: move its row here (inside the caller's transaction).
    Returns the chat's row at its new place and its previous path, or (None, None)."""
    chat = conn.execute(
        select(chats)
        .where(
            chats.c.state == "missing",
            chats.c.user == loc.user,
            chats.c.file_hash == file_hash,
            chats.c.missing_since >= iso_at(observed - window),
            chats.c.missing_since <= iso_at(observed + window),
        )
        .order_by(desc(chats.c.missing_since))
    ).first()
    if chat is None:
        return None, None
    move_row(conn, chat, loc)
    return conn.execute(select(chats).where(chats.c.chat_id == chat.chat_id)).one(), chat.rel_path


def move_row(conn: Connection, chat: Any, loc: ChatLocation) -> None:
    """The chat's file is now at ``loc``: it is there, not missing (inside the caller's catalog
    transaction, which also announces it)."""
    conn.execute(
        chats.update()
        .where(chats.c.chat_id == chat.chat_id)
        .values(**location_values(loc), state=state_back(conn, chat.chat_id), missing_since=None)
    )
    announce_chat(conn, "renamed", chat.chat_id, user=loc.user, at=utc_now_iso(),
                  message_count=chat.message_count)  # fmt: skip
    log.info("chat %s renamed: %s -> %s", chat.chat_id, chat.rel_path, loc.relative_path)


def live_copy_of(conn: Connection, chat: Any, vanished: float, window: float) -> Any:
    """A live chat with ``chat``'s content whose file appeared within ``window`` seconds of
    ``chat``'s file vanishing: a copy made to rename it, indexed first. None otherwise (a twin
    that was there before is a chat of its own)."""
    return conn.execute(
        select(chats)
        .where(
            chats.c.state != "missing",
            chats.c.user == chat.user,
            chats.c.file_hash == chat.file_hash,
            chats.c.chat_id != chat.chat_id,
            chats.c.first_seen >= iso_at(vanished - window),
            chats.c.first_seen <= iso_at(vanished + window),
        )
        .order_by(desc(chats.c.first_seen))
    ).first()


def original_of(conn: Connection, copy: Any, observed: float, window: float) -> Any:
    """For a chat first seen recently whose content now equals that of a chat which vanished
    within ``window`` seconds of ``observed``: that chat (the copy was indexed before it was
    complete, so it did not match when the original vanished). None otherwise."""
    original = conn.execute(
        select(chats)
        .where(
            chats.c.state == "missing",
            chats.c.user == copy.user,
            chats.c.file_hash == copy.file_hash,
            chats.c.chat_id != copy.chat_id,
            chats.c.missing_since >= iso_at(observed - window),
            chats.c.missing_since <= iso_at(observed + window),
        )
        .order_by(desc(chats.c.missing_since))
    ).first()
    if original is None or copy.first_seen < _minus(original.missing_since, window):
        return None
    return original


def _minus(iso: str, seconds: float) -> str:
    moment = datetime.strptime(iso, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
    return iso_at(moment.timestamp() - seconds)


def merge_copy(
    stores: Stores, settings: UpdateSettings, original: Any, copy: Any, *, same_content: bool
) -> None:
    """``copy`` was indexed as a new chat, but it is ``original`` renamed: the original keeps
    its id and history and takes the copy's place; the copy's rows go. The copy is marked pending
    first: if this is interrupted, the copy is resynced and merged again. ``same_content``: the
    copy's content is the original's (else the original keeps its own size and time, so the next
    index of the file sees the difference)."""
    with stores.catalog.write() as conn:
        conn.execute(chats.update().where(chats.c.chat_id == copy.chat_id).values(sync="pending"))
    with stores.catalog.read() as conn:
        names = conn.execute(
            select(messages.c.namespaces).where(messages.c.chat_id == copy.chat_id)
        ).scalars()
        namespaces = {ns for row in names for ns in msgspec.json.decode(row)}
    if copy.metadata_json:
        namespaces |= set(chat_namespaces(msgspec.json.decode(copy.metadata_json)))
    for ext in {settings.policy.extension_for(ns) for ns in namespaces} - {None}:
        db = stores.database_for(ext) if ext else None
        if db is not None:
            with db.write() as ext_conn:
                extsync.delete_chat_rows(ext_conn, copy.chat_id)
    stat = {"size": copy.size, "mtime_ns": copy.mtime_ns} if same_content else {}
    with stores.catalog.write() as conn:
        for table in (messages, versions, problems, chats):
            conn.execute(table.delete().where(table.c.chat_id == copy.chat_id))
        conn.execute(
            chats.update()
            .where(chats.c.chat_id == original.chat_id)
            .values(
                rel_path=copy.rel_path,
                file_name=copy.file_name,
                user=copy.user,
                kind=copy.kind,
                character=copy.character,
                group_id=copy.group_id,
                group_name=copy.group_name,
                group_members=copy.group_members,
                **stat,
                missing_since=None,
                state=state_back(conn, original.chat_id),
            )
        )
        announce_chat(conn, "renamed", original.chat_id, user=copy.user, at=utc_now_iso(),
                      message_count=original.message_count)  # fmt: skip
    log.info("chat %s renamed: %s -> %s", original.chat_id, original.rel_path, copy.rel_path)
