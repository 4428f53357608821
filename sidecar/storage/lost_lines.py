"""Lines whose stored bytes are lost (a pack file deleted or cut short) are stored again when
a chat file holding them is indexed: the versions that use them become whole again."""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import Connection

from sidecar.storage.linestore import LineRef, LineStore
from sidecar.storage.sqlite import fetchall

_CHUNK = 500


def restore_lost_lines(
    conn: Connection, store: LineStore, hashes: list[bytes], read_line: Callable[[int], bytes]
) -> int:
    """Store again the lines of a file being indexed whose stored bytes are lost, and point
    their ``lines`` rows at the new copies (the old versions that use them are whole again).
    Called only while the store knows of lost bytes."""
    first_index: dict[bytes, int] = {}
    for index, digest in enumerate(hashes):
        first_index.setdefault(digest, index)
    unique = list(first_index)
    moved = []
    for start in range(0, len(unique), _CHUNK):
        chunk = unique[start : start + _CHUNK]
        marks = ", ".join("?" * len(chunk))
        sql = f'SELECT hash, pack, "offset", length FROM lines WHERE hash IN ({marks})'
        rows = fetchall(conn, sql, chunk)
        for digest, pack, offset, length in rows:
            if store.is_lost(LineRef(pack, offset, length)):
                ref = store.append(read_line(first_index[digest]))
                moved.append((ref.pack, ref.offset, ref.length, digest))
    if moved:
        cursor = conn.connection.cursor()
        try:
            cursor.executemany(
                'UPDATE lines SET pack = ?, "offset" = ?, length = ? WHERE hash = ?', moved
            )
        finally:
            cursor.close()
    return len(moved)
