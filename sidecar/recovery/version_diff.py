"""A per-message diff between two indexed versions of a chat (``GET .../versions/{v}/diff``).

Only lines inside change blocks (and the first lines up to the header) are read and parsed;
unchanged lines are never touched (see ``sidecar.recovery.versions``)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection

from sidecar.indexer.diff import diff_lines
from sidecar.indexer.rebuild import version_hashes
from sidecar.recovery.lines_needed import lines_needed
from sidecar.recovery.versions import Lines, is_object_quick, version_row
from sidecar.sillytavern.messages import message_info, message_namespaces
from sidecar.storage.linestore import LineStore


def _summary(obj: dict[str, Any]) -> dict[str, Any]:
    info = message_info(obj)
    return {
        "name": info.name,
        "isUser": info.is_user,
        "text": info.text,
        "swipeId": info.swipe_id,
        "swipeCount": info.swipe_count,
        "namespaces": {
            entry.namespace: entry.data for entry in message_namespaces(obj) if entry.selected
        },
    }


class _Positions:
    """Message positions of one version's lines, counted as lines are walked in order."""

    def __init__(self, reader: Lines, hashes: Sequence[bytes], header: int | None) -> None:
        self._reader = reader
        self._hashes = hashes
        self._header = header
        self._line = 0
        self._position = 0

    def skip_to(self, line: int) -> None:
        """Count the messages among unchanged lines before ``line`` (read, not parsed)."""
        while self._line < line:
            if self._line != self._header and is_object_quick(
                self._reader.read(self._hashes[self._line])
            ):
                self._position += 1
            self._line += 1

    def take(self, end: int) -> list[tuple[int, dict[str, Any]]]:
        """Parse changed lines up to ``end``: ``(position, object)`` of each message."""
        found: list[tuple[int, dict[str, Any]]] = []
        parsed = self._reader.objects(self._hashes[self._line : end])
        for index, obj in enumerate(parsed, self._line):
            if obj is not None and index != self._header:
                found.append((self._position, obj))
                self._position += 1
        self._line = end
        return found


def diff_versions(
    conn: Connection, store: LineStore, chat_id: str, version: int, against: int
) -> dict[str, Any]:
    """What changed from ``against`` to ``version``, message by message. Within a change block,
    old and new messages are paired in order as ``changed``; the rest are ``removed``/``added``.
    ``against`` 0 means an empty file. Positions: in ``version`` for added and changed, in
    ``against`` for removed."""
    version_row(conn, chat_id, version)
    if against != 0:
        version_row(conn, chat_id, against)
    with lines_needed(chat_id, version):
        return _diff(conn, store, chat_id, version, against)


def _diff(
    conn: Connection, store: LineStore, chat_id: str, version: int, against: int
) -> dict[str, Any]:
    reader = Lines(conn, store)
    new = version_hashes(conn, chat_id, version)
    old = version_hashes(conn, chat_id, against) if against != 0 else []
    old_header, new_header = reader.header_index(old), reader.header_index(new)
    old_walk = _Positions(reader, old, old_header)
    new_walk = _Positions(reader, new, new_header)
    changes: list[dict[str, Any]] = []
    header_changed = (old[old_header] if old_header is not None else None) != (
        new[new_header] if new_header is not None else None
    )
    for block in diff_lines(old, new):
        if block.equal:
            continue
        old_walk.skip_to(block.a0)
        new_walk.skip_to(block.b0)
        gone = old_walk.take(block.a1)
        came = new_walk.take(block.b1)
        paired = min(len(gone), len(came))
        for (_, before), (position, after) in zip(gone[:paired], came[:paired], strict=True):
            changes.append(_change("changed", position, before, after))
        for position, before in gone[paired:]:
            changes.append(_change("removed", position, before, None))
        for position, after in came[paired:]:
            changes.append(_change("added", position, None, after))
    return {
        "version": version,
        "against": against,
        "headerChanged": header_changed,
        "changes": changes,
    }


def _change(
    kind: str, position: int, before: dict[str, Any] | None, after: dict[str, Any] | None
) -> dict[str, Any]:
    return {
        "kind": kind,
        "position": position,
        "before": _summary(before) if before is not None else None,
        "after": _summary(after) if after is not None else None,
    }
