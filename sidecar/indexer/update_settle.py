"""Settling a chat whose update a crash interrupted, when its file is gone.

A chat left ``sync=pending`` is normally finished by indexing its file again (``update``). When
the file has vanished meanwhile, there is nothing to finish it from, and the extension databases
may hold what the interrupted run wrote (values of a version the catalog never recorded, rows of
message ids it never committed) while the catalog describes the last version it did record.
Settling resyncs the chat from that last version, rebuilt byte for byte from the line store, so
the extension databases agree with the catalog again; no version is added (the content is the
last one). A chat whose very first index was interrupted was never recorded: it is forgotten.
"""

from __future__ import annotations

import logging
from typing import Any

from sidecar.errors import SidecarError
from sidecar.indexer import extsync
from sidecar.indexer.rebuild import rebuild_version
from sidecar.indexer.update import ChatUpdate
from sidecar.indexer.update_state import Stores, UpdateSettings
from sidecar.sillytavern.chatfile import ChatFile
from sidecar.sillytavern.discovery import ChatLocation
from sidecar.storage.catalog_tables import chats, messages, problems, versions

log = logging.getLogger(__name__)


def settle_pending(
    stores: Stores, settings: UpdateSettings, location: ChatLocation, chat: Any
) -> bool:
    """Settle ``chat`` (pending, its file gone); False when it was forgotten instead."""
    if not chat.version:
        forget_chat(stores, chat.chat_id)
        log.info("chat %s: its first index was interrupted and its file is gone", chat.chat_id)
        return False
    with stores.catalog.read() as conn:
        data = rebuild_version(conn, stores.lines, chat.chat_id, chat.version)
    # The rebuilt file goes in sidecar's own folder (never SillyTavern's), for a moment.
    temp = stores.lines.directory / f".settle-{chat.chat_id}.jsonl"
    temp.write_bytes(data)
    try:
        with ChatFile(temp) as file:
            ChatUpdate(stores, settings, location, chat).run(file, file.scan())
    finally:
        temp.unlink(missing_ok=True)
    log.info("chat %s: an interrupted update settled on version %d", chat.chat_id, chat.version)
    return True


def forget_chat(stores: Stores, chat_id: str) -> None:
    """Remove every row of a chat no reader ever saw whole. Extension databases first: if this
    is interrupted too, the catalog still has the chat and the next attempt does it again."""
    for ext in stores.extensions():
        try:
            db = stores.database_for(ext)
        except SidecarError:  # not a usable database: it holds nothing of this chat
            continue
        if db is not None:
            with db.write() as conn:
                extsync.delete_chat_rows(conn, chat_id)
    with stores.catalog.write() as conn:
        for table in (messages, versions, problems, chats):
            conn.execute(table.delete().where(table.c.chat_id == chat_id))


def settle_if_pending(
    stores: Stores, settings: UpdateSettings, location: ChatLocation | None, chat: Any
) -> bool:
    """For a chat about to be marked missing: settle it if a crash left it pending. False when it
    was forgotten (nothing is left to mark). A failure is logged and leaves it pending."""
    if chat.sync != "pending" or location is None:
        return True
    try:
        return settle_pending(stores, settings, location, chat)
    except Exception:
        log.exception("chat %s: cannot settle its interrupted update", chat.chat_id)
        return True
