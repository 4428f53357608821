"""Line lists of chat versions, stored as deltas.

A version's ``ops`` is msgpack: ``[[0, start, count], [1, hashes], ...]``: copy ``count`` line
hashes from the base version starting at ``start``, or append the concatenated 16-byte ``hashes``.
A full list is stored every ``FULL_EVERY`` versions (and whenever a delta would not be smaller), so
rebuilding any version walks at most that many deltas.
"""

from __future__ import annotations

from collections.abc import Sequence

import msgspec

from sidecar.indexer.diff import Block
from sidecar.sillytavern.chatfile import HASH_SIZE

FULL_EVERY = 64
_COPY, _NEW = 0, 1


def pack_hashes(hashes: Sequence[bytes]) -> bytes:
    return b"".join(hashes)


def unpack_hashes(packed: bytes) -> list[bytes]:
    return [packed[i : i + HASH_SIZE] for i in range(0, len(packed), HASH_SIZE)]


def encode_full(hashes: Sequence[bytes]) -> bytes:
    return msgspec.msgpack.encode([[_NEW, pack_hashes(hashes)]] if hashes else [])


def encode_delta(blocks: Sequence[Block], new: Sequence[bytes]) -> bytes:
    ops: list[list[object]] = []
    for block in blocks:
        if block.equal:
            ops.append([_COPY, block.a0, block.a1 - block.a0])
        elif block.b1 > block.b0:
            ops.append([_NEW, pack_hashes(new[block.b0 : block.b1])])
    return msgspec.msgpack.encode(ops)


def apply_ops(base: Sequence[bytes], ops: bytes) -> list[bytes]:
    result: list[bytes] = []
    for op in msgspec.msgpack.decode(ops):
        if op[0] == _COPY:
            result.extend(base[op[1] : op[1] + op[2]])
        else:
            result.extend(unpack_hashes(op[1]))
    return result


def choose_encoding(
    version: int, blocks: Sequence[Block], new: Sequence[bytes]
) -> tuple[bool, bytes]:
    """``(is_full, ops)`` for storing ``new`` as ``version`` (versions count from 1)."""
    full = encode_full(new)
    if version == 1 or (version - 1) % FULL_EVERY == 0:
        return True, full
    delta = encode_delta(blocks, new)
    return (True, full) if len(delta) >= len(full) // 2 and len(full) > 64 else (False, delta)
