"""Every distinct chat line ever seen, in append-only pack files.

Lines are written once, in the order they are first seen, to ``<dir>/pack-NNNNNN.bin``; the catalog
maps each line's hash to ``(pack, offset, length)``. Appending to a flat file costs a fraction of
storing the same bytes in SQLite pages (the indexer benchmark measured the SQLite ``lines`` table
alone at about 5x the time of parsing the corpus). Bytes appended by a run that dies before its
catalog commit are unreferenced and harmless; the packs are synced to disk before the catalog
commit that refers to them, so a committed reference never points at bytes that are not there.
"""

from __future__ import annotations

import errno
import os
import re
import threading
import zlib
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from sidecar.errors import Damaged
from sidecar.storage import pack_codec
from sidecar.storage.faults import FAULTS

PACK_LIMIT = 1 << 30  # start a new pack file after 1 GiB
BUFFER = 1 << 20  # appended bytes are written in chunks of about this size
_PACK_NAME = re.compile(r"pack-(\d{6})\.bin")


@dataclass(frozen=True)
class LineRef:
    pack: int
    offset: int
    length: int


class LineStore:
    """Appends lines (one writer) and reads them back (any thread)."""

    def __init__(self, directory: Path, pack_limit: int = PACK_LIMIT) -> None:
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True)
        self._limit = pack_limit
        self._lock = threading.RLock()
        packs = sorted(
            int(m.group(1)) for p in directory.iterdir() if (m := _PACK_NAME.fullmatch(p.name))
        )
        self._pack = packs[-1] if packs else 1
        self._compressed: dict[int, bool] = {}  # pack -> whether its lines are deflated
        self._fd = self._open_for_append(self._pack)
        self._size = os.fstat(self._fd).st_size
        self._buffer = bytearray()
        self._dirty = False
        self._readers: dict[int, int] = {}
        self._encoder: ThreadPoolExecutor | None = None
        if not self._compressed[self._pack]:  # a pack from before compression: start a new one
            os.close(self._fd)
            self._pack += 1
            self._fd = self._open_for_append(self._pack)
            self._size = os.fstat(self._fd).st_size
        # pack -> bytes it still holds, for packs that are missing or shorter than the catalog
        # says (found at start by ``sidecar.maintenance.checks``, or by a read): lines stored
        # past that are lost, and a save of a chat holding them stores them again.
        self.lost: dict[int, int] = {}

    def shown(self, pack: int) -> str:
        return f"{self.directory.name}/pack-{pack:06d}.bin"

    def mark_lost(self, pack: int, present: int) -> None:
        """Pack ``pack`` holds only ``present`` bytes. Never append to it again: references to
        the lost bytes must not come to point at new lines."""
        with self._lock:
            self.lost[pack] = min(present, self.lost.get(pack, present))

    def _leave_lost_packs(self) -> None:
        """Append after every pack that lost bytes (switched at the next append, so a store
        that only reads never creates a file)."""
        if not self.lost or self._pack > max(self.lost):
            return
        self._sync_locked()
        os.close(self._fd)
        self._pack = max(self.lost) + 1
        self._fd = self._open_for_append(self._pack)
        self._size = os.fstat(self._fd).st_size

    def is_lost(self, ref: LineRef) -> bool:
        present = self.lost.get(ref.pack)
        return present is not None and ref.offset + ref.length > present

    def _path(self, pack: int) -> Path:
        return self.directory / f"pack-{pack:06d}.bin"

    def _open_for_append(self, pack: int) -> int:
        """Open a pack to append to; an empty one gets the header of a compressed pack (read
        back by a separate descriptor: the append one is write-only)."""
        fd = os.open(self._path(pack), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        if os.fstat(fd).st_size == 0:
            try:
                os.write(fd, pack_codec.MAGIC)
            except OSError as exc:
                os.close(fd)
                raise self._fault(exc) from exc
            self._compressed[pack] = True
        else:
            self._compressed[pack] = self._pack_compressed(pack)
        return fd

    def _pack_compressed(self, pack: int) -> bool:
        found = self._compressed.get(pack)
        if found is None:
            fd = os.open(self._path(pack), os.O_RDONLY)
            try:
                found = pack_codec.is_compressed(fd)
            finally:
                os.close(fd)
            self._compressed[pack] = found
        return found

    def encode_later(self, lines: list[bytes]) -> Future[list[bytes]]:
        """Deflate ``lines`` on a helper thread while the caller goes on (zlib releases the GIL,
        so a bulk index compresses on the second core); hand each result to :meth:`append`."""
        with self._lock:
            if self._encoder is None:
                self._encoder = ThreadPoolExecutor(1, thread_name_prefix="line-encode")
            return self._encoder.submit(pack_codec.encode_all, lines)

    def append(self, data: bytes, encoded: bytes | None = None) -> LineRef:
        """Append one line (``encoded``: its deflated form, if already made); call :meth:`sync`
        before committing references to it."""
        with self._lock:
            self._check_open()
            self._leave_lost_packs()
            if self._size and self._size + len(data) > self._limit:
                self._sync_locked()
                os.close(self._fd)
                self._pack += 1
                self._fd = self._open_for_append(self._pack)
                self._size = os.fstat(self._fd).st_size  # the header of a compressed pack
            if self._compressed[self._pack]:
                data = pack_codec.encode(data) if encoded is None else encoded
            ref = LineRef(self._pack, self._size, len(data))
            self._buffer += data
            self._size += len(data)
            if len(self._buffer) >= BUFFER:
                self._flush_locked()
            return ref

    def _flush_locked(self) -> None:
        data, self._buffer = bytes(self._buffer), bytearray()
        done = 0
        try:
            while done < len(data):
                done += os.write(self._fd, data[done:])
        except OSError as exc:
            # The references handed out for the unwritten bytes belong to a transaction that
            # is rolled back; later appends must start where the file really ends.
            self._size = os.fstat(self._fd).st_size
            raise self._fault(exc) from exc
        self._dirty = True

    def _fault(self, exc: OSError) -> Exception:
        if exc.errno in (errno.ENOSPC, errno.EDQUOT):
            return FAULTS.full(self.directory.parent, self.shown(self._pack))
        return exc

    def sync(self) -> None:
        """Make every appended byte durable (fdatasync), if anything was appended."""
        with self._lock:
            self._sync_locked()

    def _sync_locked(self) -> None:
        if self._buffer:
            self._flush_locked()
        if self._dirty:
            try:
                os.fdatasync(self._fd)
            except OSError as exc:
                self._size = os.fstat(self._fd).st_size
                raise self._fault(exc) from exc
            self._dirty = False

    def read(self, ref: LineRef) -> bytes:
        """The line at ``ref`` (decompressed)."""
        data = self._read_stored(ref)
        return self._decode(ref.pack, data) if self._pack_compressed(ref.pack) else data

    def _decode(self, pack: int, stored: bytes) -> bytes:
        try:
            return pack_codec.decode(stored)
        except zlib.error:
            reason = "a stored line cannot be decompressed (overwritten bytes)"
            raise FAULTS.damaged(self._path(pack), reason, self.shown(pack)) from None

    def read_many(self, refs: list[LineRef]) -> list[bytes]:
        """The lines at ``refs``, reading each run of lines stored back to back with one read
        (a version's lines were mostly appended in order, so this is a few large reads)."""
        out: list[bytes] = []
        i = 0
        while i < len(refs):
            j, end = i + 1, refs[i].offset + refs[i].length
            while j < len(refs) and refs[j].pack == refs[i].pack and refs[j].offset == end:
                end += refs[j].length
                j += 1
            first = refs[i]
            block = self._read_stored(LineRef(first.pack, first.offset, end - first.offset))
            compressed = self._pack_compressed(first.pack)
            position = 0
            for ref in refs[i:j]:
                stored = block[position : position + ref.length]
                out.append(self._decode(first.pack, stored) if compressed else stored)
                position += ref.length
            i = j
        return out

    def _read_stored(self, ref: LineRef) -> bytes:
        with self._lock:
            self._check_open()
            if ref.pack == self._pack and self._buffer:
                self._flush_locked()
            fd = self._readers.get(ref.pack)
            if fd is None:
                try:
                    fd = os.open(self._path(ref.pack), os.O_RDONLY)
                except FileNotFoundError:
                    raise self._lost(ref.pack, 0, "the file is missing") from None
                self._readers[ref.pack] = fd
        data = os.pread(fd, ref.length, ref.offset)
        if len(data) != ref.length:
            size = os.fstat(fd).st_size
            raise self._lost(ref.pack, size, "shorter than the catalog says")
        return data

    def _lost(self, pack: int, present: int, reason: str) -> Damaged:
        """A read found pack ``pack`` missing or short: record it, and the error to raise."""
        self.mark_lost(pack, present)
        return FAULTS.damaged(self._path(pack), f"{reason}: lines missing", self.shown(pack))

    def _check_open(self) -> None:
        # A closed store's descriptor number may already belong to another file.
        if self._fd < 0:
            raise ValueError("the line store is closed")

    def close(self) -> None:
        with self._lock:
            if self._encoder is not None:
                self._encoder.shutdown()
                self._encoder = None
            if self._fd < 0:
                return
            self._sync_locked()
            os.close(self._fd)
            self._fd = -1
            for fd in self._readers.values():
                os.close(fd)
            self._readers.clear()
