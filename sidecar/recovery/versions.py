"""Every indexed version of a chat: the list (with what each save changed), the exact file of any
version, and a readable per-message diff between two versions.

What counts as a message: a line that parses as a JSON object and is not the version's header
(its first object line, when :func:`is_header` says so). Blank and unparsable lines are never
messages. A save's ``added``/``removed``/``edited`` come from the line diff of the two versions'
line-hash lists: per change block, ``edited = min(old messages, new messages)`` and the rest of
each side counts as removed or added. Only lines inside change blocks (and the first lines up to
the header) are read and parsed; unchanged lines are never touched.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, select

from sidecar.errors import InvalidInput, NotFound
from sidecar.indexer.diff import Block, diff_lines
from sidecar.indexer.parse import parse_line
from sidecar.indexer.rebuild import rebuild_version, version_hashes
from sidecar.indexer.versions import apply_ops
from sidecar.query.pages import Page, check_limit, decode_cursor, page_of
from sidecar.recovery.lines_needed import lines_needed
from sidecar.sillytavern.messages import is_header
from sidecar.storage.catalog_tables import chats, lines, versions
from sidecar.storage.linestore import LineRef, LineStore

VERSION_NOT_FOUND = "Version not found"
FILE_SUFFIX = ".jsonl"
SHRINK_MIN_MESSAGES = 4  # a save is flagged as a shrink only if the previous had at least this
_CHUNK = 500


# -- reading lines -------------------------------------------------------------------------------


class Lines:
    """Line bytes by hash, and whether a line is a JSON object (cached per hash)."""

    def __init__(self, conn: Connection, store: LineStore) -> None:
        self._conn = conn
        self._store = store
        self._refs: dict[bytes, LineRef] = {}
        self._objects: dict[bytes, dict[str, Any] | None] = {}

    def _load(self, hashes: Iterable[bytes]) -> None:
        missing = [h for h in dict.fromkeys(hashes) if h not in self._refs]
        for start in range(0, len(missing), _CHUNK):
            rows = self._conn.execute(
                select(lines.c.hash, lines.c.pack, lines.c.offset, lines.c.length).where(
                    lines.c.hash.in_(missing[start : start + _CHUNK])
                )
            )
            self._refs.update((r.hash, LineRef(r.pack, r.offset, r.length)) for r in rows)

    def read(self, digest: bytes) -> bytes:
        if digest not in self._refs:
            self._load([digest])
        return self._store.read(self._refs[digest])

    def objects(self, hashes: Sequence[bytes]) -> list[dict[str, Any] | None]:
        """Each line parsed: its JSON object, or None (blank or not an object)."""
        todo = [h for h in hashes if h not in self._objects]
        self._load(todo)
        for digest in todo:
            self._objects[digest] = parse_line(self.read(digest)).obj
        return [self._objects[h] for h in hashes]

    def header_index(self, hashes: Sequence[bytes]) -> int | None:
        """The header's line: the first object line, if it is a header."""
        for index, digest in enumerate(hashes):
            obj = self.objects([digest])[0]
            if obj is not None:
                return index if is_header(obj) else None
        return None


def is_object_quick(line: bytes) -> bool:
    """Cheap test for unchanged lines (never parsed): looks like one JSON object."""
    stripped = line.strip()
    return stripped.startswith(b"{") and stripped.endswith(b"}")


# -- the list ------------------------------------------------------------------------------------


def version_row(conn: Connection, chat_id: str, version: int) -> Any:
    row = conn.execute(
        select(versions).where(versions.c.chat_id == chat_id, versions.c.version == version)
    ).first()
    if row is None:
        raise NotFound(VERSION_NOT_FOUND)
    return row


def previous_version(conn: Connection, chat_id: str, version: int) -> Any:
    return conn.execute(
        select(versions)
        .where(versions.c.chat_id == chat_id, versions.c.version < version)
        .order_by(versions.c.version.desc())
        .limit(1)
    ).first()


@dataclass
class _Counts:
    added: int = 0
    removed: int = 0
    edited: int = 0


def _count_changes(
    reader: Lines, old: Sequence[bytes], new: Sequence[bytes], blocks: Sequence[Block]
) -> _Counts:
    counts = _Counts()
    old_header = reader.header_index(old)
    new_header = reader.header_index(new)
    for block in blocks:
        if block.equal:
            continue
        gone = _messages_in(reader, old, block.a0, block.a1, old_header)
        came = _messages_in(reader, new, block.b0, block.b1, new_header)
        edited = min(gone, came)
        counts.edited += edited
        counts.removed += gone - edited
        counts.added += came - edited
    return counts


def _messages_in(
    reader: Lines, hashes: Sequence[bytes], start: int, end: int, header: int | None
) -> int:
    parsed = reader.objects(hashes[start:end])
    return sum(1 for index, obj in enumerate(parsed, start) if obj is not None and index != header)


def _item(row: Any, counts: _Counts, previous: Any) -> dict[str, Any]:
    shrunk = (
        previous is not None
        and previous.message_count >= SHRINK_MIN_MESSAGES
        and row.message_count * 2 <= previous.message_count
    )
    return {
        "version": row.version,
        "seenAt": row.seen_at,
        "relPath": row.rel_path,
        "size": row.size,
        "messageCount": row.message_count,
        "added": counts.added,
        "removed": counts.removed,
        "edited": counts.edited,
        "shrunk": shrunk,
    }


def list_versions(
    conn: Connection, store: LineStore, chat_id: str, limit: int | None, cursor: str | None
) -> Page:
    """``{"items": [version], "nextCursor"}``, newest first; each item says what its save changed
    against the previous version (the first version: every message added)."""
    size = check_limit(limit)
    key = decode_cursor(cursor, 1)
    query = select(versions).where(versions.c.chat_id == chat_id)
    if key is not None:
        if not isinstance(key[0], int) or isinstance(key[0], bool):
            raise InvalidInput("Invalid cursor")
        query = query.where(versions.c.version < key[0])
    rows = list(conn.execute(query.order_by(versions.c.version.desc()).limit(size + 1)))
    kept, next_cursor = page_of(rows, size, lambda row: [row.version])
    if not kept:
        return Page([], next_cursor)
    ascending = list(reversed(kept))
    reader = Lines(conn, store)
    previous = previous_version(conn, chat_id, ascending[0].version)
    old = version_hashes(conn, chat_id, previous.version) if previous is not None else []
    items: list[dict[str, Any]] = []
    for row in ascending:
        if row.base_version is None:
            new = apply_ops([], row.ops)
        elif previous is not None and row.base_version == previous.version:
            new = apply_ops(old, row.ops)
        else:
            new = version_hashes(conn, chat_id, row.version)
        if previous is None:
            counts = _Counts(added=row.message_count)
        else:
            counts = _count_changes(reader, old, new, diff_lines(old, new))
        items.append(_item(row, counts, previous))
        previous, old = row, new
    items.reverse()
    return Page(items, next_cursor)


# -- one version's file --------------------------------------------------------------------------


def download_name(conn: Connection, chat_id: str) -> str:
    """The name a downloaded version gets: the chat's file name plus ``.jsonl``, which is what
    SillyTavern's chat import expects."""
    name = conn.execute(select(chats.c.file_name).where(chats.c.chat_id == chat_id)).scalar()
    if name is None:
        raise NotFound("Chat not found")
    return f"{name}{FILE_SUFFIX}"


def version_file(conn: Connection, store: LineStore, chat_id: str, version: int) -> bytes:
    """The exact bytes of the file as that version was indexed."""
    version_row(conn, chat_id, version)
    with lines_needed(chat_id, version):
        return rebuild_version(conn, store, chat_id, version)
