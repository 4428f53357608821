"""Rebuilding derived data from SillyTavern's files: which chats feed which extension database,
and marking chats for a full resync.

A chat marked ``sync=pending`` is indexed again from its file on the next pass, the way a chat
interrupted by a crash is (``sidecar.indexer.update``): every message and namespace row is
written again, rows of messages that are gone are removed, and its ``chatId``, message ids and
versions are kept (the same content records no new version).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable

import msgspec
from sqlalchemy import Connection

from sidecar.indexer.versions import unpack_hashes
from sidecar.sillytavern.messages import chat_namespaces
from sidecar.storage.extension_db import Database
from sidecar.storage.linestore import LineStore
from sidecar.storage.sqlite import fetchall

ExtensionFor = Callable[[str], str | None]


def extension_chats(conn: Connection, extension_for: ExtensionFor) -> dict[str, set[str]]:
    """extension id -> ids of the chats whose messages or chat metadata feed its database."""
    found: dict[str, set[str]] = defaultdict(set)
    rows = fetchall(
        conn, "SELECT DISTINCT chat_id, namespaces FROM messages WHERE namespaces != '[]'"
    )
    for chat_id, names in rows:
        for namespace in msgspec.json.decode(names):
            ext = extension_for(namespace)
            if ext is not None:
                found[ext].add(chat_id)
    for chat_id, metadata in fetchall(
        conn, "SELECT chat_id, metadata_json FROM chats WHERE metadata_json IS NOT NULL"
    ):
        for namespace in chat_namespaces(msgspec.json.decode(metadata)):
            ext = extension_for(namespace)
            if ext is not None:
                found[ext].add(chat_id)
    return dict(found)


def mark_pending(catalog: Database, chat_ids: Iterable[str]) -> int:
    """Mark chats for a full resync on the next pass; returns how many."""
    ids = sorted(set(chat_ids))
    with catalog.write() as conn:
        cursor = conn.connection.cursor()
        try:
            cursor.executemany(
                "UPDATE chats SET sync = 'pending' WHERE chat_id = ?", [(i,) for i in ids]
            )
        finally:
            cursor.close()
    return len(ids)


def lost_hashes(conn: Connection, store: LineStore) -> set[bytes]:
    """Hashes of the lines whose bytes are gone from the line store."""
    lost: set[bytes] = set()
    for pack, present in store.lost.items():
        rows = fetchall(
            conn,
            'SELECT hash FROM lines WHERE pack = ? AND "offset" + length > ?',
            (pack, present),
        )
        lost.update(row[0] for row in rows)
    return lost


def chats_with_lines(conn: Connection, hashes: set[bytes]) -> set[str]:
    """Chats whose current file holds one of ``hashes`` (a save of it can store them again)."""
    if not hashes:
        return set()
    found = set()
    for chat_id, packed in fetchall(conn, "SELECT chat_id, line_hashes FROM chats"):
        if any(h in hashes for h in unpack_hashes(packed)):
            found.add(chat_id)
    return found
