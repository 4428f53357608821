"""How lines are stored in a pack file: each line deflated on its own (raw deflate, no header),
so any line can be read back alone by its offset and stored length.

A compressed pack starts with :data:`MAGIC`. Packs written before compression have no header and
hold the lines as they are; they stay readable. The magic starts and ends with a newline, which no
stored line contains (lines are split on newlines), so a raw pack can never be taken for a
compressed one. Chat lines are JSON with much repetition: deflate stores them in a fraction of
their size, which keeps the database folder smaller than the chats it indexes.
"""

from __future__ import annotations

import os
import zlib

MAGIC = b"\nsidecar-pack-deflate-1\n"
# Measured on chatgen's corpus (44.5 MB of lines): zlib's level 1 stores 34.5% at 25 MB/s, level
# 6 32.8% at 17 MB/s (a loaded machine): the faster one. ISA-L's level 1 writes the same format
# (raw deflate, read back by zlib) 2.5x as fast at the same ratio (25 MB of chatgen lines: 209
# MB/s and 34.1%, zlib's level 1 82 MB/s and 34.6%): a first full index deflates every line, and
# that was a fifth of its CPU time. zlib stays the fallback where no isal wheel installs.
LEVEL = 1

try:
    from isal.isal_zlib import compress as _compress
except ImportError:  # pragma: no cover - no isal wheel for this machine (pyproject.toml)
    _compress = zlib.compress


def encode(line: bytes) -> bytes:
    return _compress(line, LEVEL, -15)  # raw deflate, no header


def encode_all(lines: list[bytes]) -> list[bytes]:
    return [_compress(line, LEVEL, -15) for line in lines]


def decode(stored: bytes) -> bytes:
    return zlib.decompress(stored, -15)


def is_compressed(fd: int) -> bool:
    """Whether the pack open as ``fd`` starts with :data:`MAGIC`."""
    return os.pread(fd, len(MAGIC), 0) == MAGIC


def header_size(fd: int) -> int:
    return len(MAGIC) if is_compressed(fd) else 0
