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


def line_hash(line: bytes) -> bytes:
    """Content address of one line (BLAKE2b, 16 bytes)."""
    return hashlib.blake2b(line, digest_size=HASH_SIZE).digest()


@dataclass
class Scan:
    """What one pass over a file found."""

    size: int
    mtime_ns: int
    inode: int
    file_hash: bytes
    bom: bool
    trailing_newline: bool
    hashes: list[bytes] = field(default_factory=list)


class ChatFile:
    """An open chat file. Use as a context manager; the descriptor is read-only and unlocked."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._file: BinaryIO = open(path, "rb")  # noqa: SIM115 - closed by __exit__/close

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
        """Hash every line and the whole file; record the framing."""
        stat = os.fstat(self._file.fileno())
        whole = hashlib.blake2b(digest_size=HASH_SIZE)
        scan = Scan(stat.st_size, stat.st_mtime_ns, stat.st_ino, b"", False, False)
        for index, raw in enumerate(self._raw_lines()):
            whole.update(raw)
            line = raw[:-1] if raw.endswith(b"\n") else raw
            if index == 0 and line.startswith(BOM):
                scan.bom = True
                line = line[len(BOM) :]
            scan.hashes.append(line_hash(line))
            scan.trailing_newline = raw.endswith(b"\n")
        scan.file_hash = whole.digest()
        return scan

    def lines(self, wanted: Sequence[bool] | None = None) -> Iterator[tuple[int, bytes]]:
        """``(index, line)`` for every line, or only where ``wanted[index]`` is true."""
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
