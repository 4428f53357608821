"""Reading a chat file line by line, keeping exactly what is needed to rebuild it byte for byte.

A file is its framing (a UTF-8 BOM or not, a final newline or not) plus its lines split on
``\\n``. A ``\\r`` before the ``\\n`` stays part of the line, so files with CRLF or mixed line
endings rebuild exactly. Lines are streamed from one open file descriptor: a 100 MB chat is never
one object graph, and because SillyTavern replaces a chat by renaming a new file over it,
re-reading the same descriptor always sees the same version. A file written in place instead (by
another tool) can change under the reader: every line read again is checked against its hash
from the scan, and :meth:`ChatFile.check_unchanged` compares size and time at the end; a
difference raises :class:`ChatFileChanged`, so the caller can roll back and read it again.

A file of up to :data:`KEEP_BYTES` keeps the lines its scan read (``Scan.raw``), so they are
neither read nor hashed a second time: they are the very bytes the hashes were made from. Only
bigger files are streamed twice, to keep memory bounded. The same guarantee holds for kept
lines: :meth:`ChatFile.check_unchanged` compares every kept line that was handed out with the
file's bytes (one read and one comparison when most were), so a file rewritten in place even
with its size and time kept is caught.
"""

from __future__ import annotations

import errno
import hashlib
import os
import stat
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

BOM = b"\xef\xbb\xbf"
HASH_SIZE = 16
READ_BUFFER = 1 << 20
KEEP_BYTES = 32 << 20  # files up to this size keep their scanned lines in memory


class ChatFileChanged(Exception):
    """The file's bytes changed while it was being read (it was written in place)."""


def line_hash(line: bytes | memoryview) -> bytes:
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
    raw: list[bytes] | None = None  # the lines as read, "\n" and BOM kept (up to KEEP_BYTES)


class ChatFile:
    """An open chat file. Use as a context manager; the descriptor is read-only and unlocked."""

    def __init__(self, path: Path) -> None:
        self.path = path
        # O_NONBLOCK: a FIFO put where the file was a moment ago must not block the open forever.
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
        try:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                raise OSError(errno.EINVAL, "not a regular file", str(path))
            # A large buffer: chat lines average kilobytes; readline on an 8 KiB buffer copies.
            self._file: BinaryIO = os.fdopen(fd, "rb", buffering=READ_BUFFER)
        except BaseException:
            os.close(fd)
            raise
        self._handed_out: list[int] = []  # indexes of kept lines given to the caller

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

    def scan(self, keep_bytes: int = KEEP_BYTES) -> Scan:
        """Hash every line; record the framing and where each line starts. A file of up to
        ``keep_bytes`` also keeps its lines as read (``Scan.raw``)."""
        info = os.fstat(self._file.fileno())
        scan = Scan(info.st_size, info.st_mtime_ns, info.st_ino, b"", False, False)
        kept: list[bytes] | None = [] if info.st_size <= keep_bytes else None
        position = 0
        for index, raw in enumerate(self._raw_lines()):
            # A view, not a slice: a 50 MB line is not copied to be hashed.
            line = memoryview(raw)[: -1 if raw.endswith(b"\n") else None]
            start = position
            if index == 0 and raw.startswith(BOM):
                scan.bom = True
                line = line[len(BOM) :]
                start += len(BOM)
            scan.hashes.append(line_hash(line))
            if kept is not None:
                kept.append(raw)
            scan.offsets.append(start)
            scan.trailing_newline = raw.endswith(b"\n")
            position += len(raw)
        scan.offsets.append(position)
        scan.size = position
        if kept is not None and position <= keep_bytes:  # it may have grown since the fstat
            scan.raw = kept
        scan.file_hash = content_hash(
            scan.hashes, bom=scan.bom, trailing_newline=scan.trailing_newline
        )
        return scan

    def line(self, scan: Scan, index: int) -> bytes:
        """Line ``index`` alone, read at its offset (or kept by the scan)."""
        if scan.raw is not None:
            self._handed_out.append(index)
            return _strip(scan.raw, index, bom=scan.bom)
        start, end = scan.offsets[index], scan.offsets[index + 1]
        data = os.pread(self._file.fileno(), end - start, start)
        line = data[:-1] if data.endswith(b"\n") else data
        _check(scan, index, line)
        return line

    def check_unchanged(self, scan: Scan) -> None:
        """Raise :class:`ChatFileChanged` if the file's size or time moved since ``scan``, or if
        a kept line handed out differs from the file's bytes now."""
        info = os.fstat(self._file.fileno())
        if (info.st_size, info.st_mtime_ns) != (scan.size, scan.mtime_ns):
            raise ChatFileChanged(f"{self.path} changed while it was read")
        if scan.raw is not None and self._handed_out:
            self._check_kept(scan, scan.raw)

    def _check_kept(self, scan: Scan, raw: list[bytes]) -> None:
        fd = self._file.fileno()
        if len(self._handed_out) * 8 >= len(raw):  # most of them: the whole file at once
            if os.pread(fd, scan.size + 1, 0) != b"".join(raw):
                raise ChatFileChanged(f"{self.path} changed while it was read")
            return
        for index in self._handed_out:
            start, end = scan.offsets[index], scan.offsets[index + 1]
            kept = raw[index][len(BOM) :] if index == 0 and scan.bom else raw[index]
            if os.pread(fd, end - start, start) != kept:
                raise ChatFileChanged(f"line {index + 1} changed while it was read")

    def lines(
        self,
        scan: Scan | None = None,
        wanted: Sequence[bool] | None = None,
        *,
        unchecked: list[tuple[int, bytes]] | None = None,
    ) -> Iterator[tuple[int, bytes]]:
        """``(index, line)`` for every line, or only where ``wanted[index]`` is true. A few wanted
        lines are read at their offsets (``scan`` needed); many are read in one sequential pass.
        With ``scan``, each line is checked against it (:class:`ChatFileChanged`); with
        ``unchecked`` too, lines of the sequential pass are put there instead, for the caller to
        check with :func:`check_lines` (on another core, sha256 releases the GIL) before it
        trusts them. Lines the scan kept are yielded from memory, and need no check."""
        if scan is not None and scan.raw is not None:
            for index in range(len(scan.raw)):
                if wanted is None or (index < len(wanted) and wanted[index]):
                    self._handed_out.append(index)
                    yield index, _strip(scan.raw, index, bom=scan.bom)
            return
        if scan is not None and wanted is not None and sum(wanted) * 8 < len(wanted):
            for index, flag in enumerate(wanted):
                if flag:
                    yield index, self.line(scan, index)
            return
        seen = 0
        for index, raw in enumerate(self._raw_lines()):
            seen = index + 1
            if wanted is not None and (index >= len(wanted) or not wanted[index]):
                continue
            line = raw[:-1] if raw.endswith(b"\n") else raw
            if index == 0 and line.startswith(BOM):
                line = line[len(BOM) :]
            if unchecked is not None:
                unchecked.append((index, line))
            elif scan is not None:
                _check(scan, index, line)
            yield index, line
        if scan is not None and seen < len(scan.hashes):
            raise ChatFileChanged(f"{self.path} lost lines while it was read")


def _strip(raw: list[bytes], index: int, *, bom: bool) -> bytes:
    """Kept line ``index`` without its newline (and the BOM, for line 0)."""
    line = raw[index][:-1] if raw[index].endswith(b"\n") else raw[index]
    return line[len(BOM) :] if index == 0 and bom else line


def check_lines(scan: Scan, lines: Sequence[tuple[int, bytes]]) -> None:
    """Raise :class:`ChatFileChanged` unless each ``(index, line)`` matches ``scan``."""
    for index, line in lines:
        _check(scan, index, line)


def _check(scan: Scan, index: int, line: bytes) -> None:
    if index >= len(scan.hashes) or line_hash(line) != scan.hashes[index]:
        raise ChatFileChanged(f"line {index + 1} changed while it was read")


def rebuild(lines: Sequence[bytes], *, bom: bool, trailing_newline: bool) -> bytes:
    """The exact bytes of a file from its lines and framing (inverse of :meth:`ChatFile.scan`)."""
    return (BOM if bom else b"") + b"\n".join(lines) + (b"\n" if trailing_newline else b"")
