"""The line store's pack files on disk, as gc and the disk usage report see them: listing and
sizes, and writing the compacted copies of packs that hold dead bytes.

The order in which copies are committed and old packs deleted is gc's (see ``gc``).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from sidecar.storage import pack_codec

LINES_DIR = "lines"
_PACK_NAME = re.compile(r"pack-(\d{6})\.bin")
_COPY_BUFFER = 1 << 20


def pack_header(store_dir: Path, pack: int) -> int:
    """Bytes of a pack that are not lines (the header of a compressed pack)."""
    try:
        fd = os.open(pack_path(store_dir, pack), os.O_RDONLY)
    except OSError:
        return 0
    try:
        return pack_codec.header_size(fd)
    finally:
        os.close(fd)


def list_packs(store_dir: Path) -> dict[int, int]:
    """pack number -> file size."""
    if not store_dir.is_dir():
        return {}
    found: dict[int, int] = {}
    for path in store_dir.iterdir():
        match = _PACK_NAME.fullmatch(path.name)
        if match:
            found[int(match.group(1))] = path.stat().st_size
    return found


def packs_size(store_dir: Path) -> int:
    return sum(list_packs(store_dir).values())


def pack_path(store_dir: Path, pack: int) -> Path:
    return store_dir / f"pack-{pack:06d}.bin"


def fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class PackWriter:
    """Writes new pack files, numbered from ``first``, each at most ``limit`` bytes."""

    def __init__(self, store_dir: Path, first: int, limit: int) -> None:
        self.store_dir = store_dir
        self.pack = first
        self.limit = limit
        self.written: list[int] = []
        self._fd: int | None = None
        self._size = 0
        self._buffer = bytearray()

    def append(self, data: bytes) -> tuple[int, int]:
        if self._fd is not None and self._size and self._size + len(data) > self.limit:
            self._finish()
            self.pack += 1
        if self._fd is None:
            path = pack_path(self.store_dir, self.pack)
            self._fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            self.written.append(self.pack)
            self._buffer += pack_codec.MAGIC  # copies are compressed packs
            self._size = len(pack_codec.MAGIC)
        where = (self.pack, self._size)
        self._buffer += data
        self._size += len(data)
        if len(self._buffer) >= _COPY_BUFFER:
            self._flush()
        return where

    def _flush(self) -> None:
        assert self._fd is not None
        data, self._buffer = bytes(self._buffer), bytearray()
        done = 0
        while done < len(data):
            done += os.write(self._fd, data[done:])

    def _finish(self) -> None:
        if self._fd is None:
            return
        self._flush()
        os.fsync(self._fd)
        os.close(self._fd)
        self._fd = None

    def close(self) -> None:
        """Flush and fsync the open pack (call before committing references to the copies)."""
        self._finish()

    def discard(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
        for pack in self.written:
            pack_path(self.store_dir, pack).unlink(missing_ok=True)


def copy_lines(
    store_dir: Path, rows: Iterable[Any], writer: PackWriter
) -> list[tuple[int, int, int, bytes]]:
    """Copy the lines of ``(hash, pack, offset, length)`` rows, sorted by (pack, offset), into
    ``writer`` (lines of packs from before compression are compressed on the way); returns
    ``(new pack, new offset, new length, hash)`` of each."""
    moves: list[tuple[int, int, int, bytes]] = []
    for pack, runs in _runs(rows):
        fd = os.open(pack_path(store_dir, pack), os.O_RDONLY)
        try:
            compressed = pack_codec.is_compressed(fd)
            for start, run in runs:
                total = sum(row[3] for row in run)
                block = os.pread(fd, total, start)
                if len(block) != total:
                    raise OSError(f"line store pack {pack} is shorter than the catalog says")
                position = 0
                for digest, _pack, _offset, length in run:
                    stored = block[position : position + length]
                    if not compressed:
                        stored = pack_codec.encode(stored)
                    new_pack, new_offset = writer.append(stored)
                    moves.append((new_pack, new_offset, len(stored), digest))
                    position += length
        finally:
            os.close(fd)
    return moves


def _runs(rows: Iterable[Any]) -> Iterator[tuple[int, list[tuple[int, list[Any]]]]]:
    """Group ``(hash, pack, offset, length)`` rows sorted by (pack, offset) into packs, and each
    pack's rows into runs stored back to back (read with one ``pread`` each)."""
    pack_rows: list[tuple[int, list[Any]]] = []
    current: int | None = None
    end = run_size = -1
    for row in rows:
        _digest, pack, offset, length = row
        if pack != current:
            if current is not None:
                yield current, pack_rows
            current, pack_rows, end = pack, [], -1
        if offset == end and run_size < _COPY_BUFFER:
            pack_rows[-1][1].append(row)
            run_size += length
        else:
            pack_rows.append((offset, [row]))
            run_size = length
        end = offset + length
    if current is not None:
        yield current, pack_rows
