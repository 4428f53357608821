"""Reading a chat file line by line, keeping exactly what is needed to rebuild it byte for byte.

A file is its framing (a UTF-8 BOM or not, a final newline or not) plus its lines split on
``\\n``. A ``\\r`` before the ``\\n`` stays part of the line, so files with CRLF or mixed line
endings rebuild exactly. Lines are streamed from one open file descriptor: a 100 MB chat is never
one object graph, and because SillyTavern replaces a chat by renaming a new file over it,
re-reading the same descriptor always sees the same version.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

BOM = b"\xef\xbb\xbf"
HASH_SIZE = 16
READ_BUFFER = 1 << 20


def line_hash(line: bytes) -> bytes:
    """Content address of one line: SHA-256 cut to 16 bytes (SHA-256 has CPU support on most
    machines and measured faster than BLAKE2b here)."""
    return hashlib.sha256(line).digest()[:HASH_SIZE]


def content_hash(hashes: Sequence[bytes], *, bom: bool, trailing_newline: bool) -> bytes:
    """Identity of a whole file, derived from its line hashes and framing (no second pass over
    the bytes): equal for two files exactly when their bytes are equal."""
    digest = hashlib.sha256(b"%d%d" % (bom, trailing_newline))
    for value in hashes:
        digest.update(value)
    return digest.digest()[:HASH_SIZE]


@dataclass
class Scan:
    """What one pass over a file found. ``offsets[i]`` is where line ``i`` starts (after the BOM
    for line 0); ``offsets[-1]`` is the file size."""

    size: int
    mtime_ns: int
    inode: int
    file_hash: bytes
    bom: bool
    trailing_newline: bool
    hashes: list[bytes] = field(default_factory=list)
    offsets: list[int] = field(default_factory=list)


class ChatFile:
    """An open chat file. Use as a context manager; the descriptor is read-only and unlocked."""

    def __init__(self, path: Path) -> None:
        self.path = path
        # A large buffer: chat lines average kilobytes, and readline on an 8 KiB buffer copies.
        self._file: BinaryIO = open(path, "rb", buffering=READ_BUFFER)  # noqa: SIM115

    def __enter__(self) -> ChatFile:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._file.close()

    def _raw_lines(self) -> Iterator[bytes]:
        """Lines with their ``\\n`` (the last may lack it)."""
        self._file.seek(0)
        yield from self._file

    def scan(self) -> Scan:
        """Hash every line; record the framing and where each line starts."""
        stat = os.fstat(self._file.fileno())
        scan = Scan(stat.st_size, stat.st_mtime_ns, stat.st_ino, b"", False, False)
        position = 0
        for index, raw in enumerate(self._raw_lines()):
            line = raw[:-1] if raw.endswith(b"\n") else raw
            start = position
            if index == 0 and line.startswith(BOM):
                scan.bom = True
                line = line[len(BOM) :]
                start += len(BOM)
            scan.hashes.append(line_hash(line))
            scan.offsets.append(start)
            scan.trailing_newline = raw.endswith(b"\n")
            position += len(raw)
        scan.offsets.append(position)
        scan.size = position
        scan.file_hash = content_hash(
            scan.hashes, bom=scan.bom, trailing_newline=scan.trailing_newline
        )
        return scan

    def line(self, scan: Scan, index: int) -> bytes:
        """Line ``index`` alone, read at its offset."""
        start, end = scan.offsets[index], scan.offsets[index + 1]
        data = os.pread(self._file.fileno(), end - start, start)
        return data[:-1] if data.endswith(b"\n") else data

    def lines(
        self, scan: Scan | None = None, wanted: Sequence[bool] | None = None
    ) -> Iterator[tuple[int, bytes]]:
        """``(index, line)`` for every line, or only where ``wanted[index]`` is true. A few wanted
        lines are read at their offsets (``scan`` needed); many are read in one sequential pass."""
        if scan is not None and wanted is not None and sum(wanted) * 8 < len(wanted):
            for index, flag in enumerate(wanted):
                if flag:
                    yield index, self.line(scan, index)
            return
        for index, raw in enumerate(self._raw_lines()):
            if wanted is not None and (index >= len(wanted) or not wanted[index]):
                continue
            line = raw[:-1] if raw.endswith(b"\n") else raw
            if index == 0 and line.startswith(BOM):
                line = line[len(BOM) :]
            yield index, line


def rebuild(lines: Sequence[bytes], *, bom: bool, trailing_newline: bool) -> bytes:
    """The exact bytes of a file from its lines and framing (inverse of :meth:`ChatFile.scan`)."""
    return (BOM if bom else b"") + b"\n".join(lines) + (b"\n" if trailing_newline else b"")
