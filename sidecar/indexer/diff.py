"""Line-list diff between two versions of a chat file.

A save usually changes a few lines, so the common prefix and suffix are stripped first and only
the middle goes through ``difflib`` (which is linear-ish on the unique hashes of chat lines).
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from dataclasses import dataclass

# Above this many line pairs in the changed middle, treat the middle as replaced wholesale.
_MAX_MIDDLE_PRODUCT = 50_000_000


@dataclass(frozen=True)
class Block:
    """``old[a0:a1]`` became ``new[b0:b1]``; ``equal`` blocks are unchanged lines."""

    equal: bool
    a0: int
    a1: int
    b0: int
    b1: int


def diff_lines(old: Sequence[bytes], new: Sequence[bytes]) -> list[Block]:
    """Blocks covering both sequences in order (empty blocks omitted)."""
    prefix = 0
    limit = min(len(old), len(new))
    while prefix < limit and old[prefix] == new[prefix]:
        prefix += 1
    suffix = 0
    while suffix < limit - prefix and old[len(old) - 1 - suffix] == new[len(new) - 1 - suffix]:
        suffix += 1
    a_end, b_end = len(old) - suffix, len(new) - suffix
    blocks: list[Block] = []
    if prefix:
        blocks.append(Block(True, 0, prefix, 0, prefix))
    middle_old, middle_new = old[prefix:a_end], new[prefix:b_end]
    if middle_old or middle_new:
        if (
            not middle_old
            or not middle_new
            or (len(middle_old) * len(middle_new) > _MAX_MIDDLE_PRODUCT)
        ):
            blocks.append(Block(False, prefix, a_end, prefix, b_end))
        else:
            matcher = difflib.SequenceMatcher(None, middle_old, middle_new, autojunk=False)
            for tag, i0, i1, j0, j1 in matcher.get_opcodes():
                blocks.append(
                    Block(tag == "equal", prefix + i0, prefix + i1, prefix + j0, prefix + j1)
                )
    if suffix:
        blocks.append(Block(True, a_end, len(old), b_end, len(new)))
    return _merge_changes(blocks)


def _merge_changes(blocks: list[Block]) -> list[Block]:
    """Adjacent non-equal blocks (difflib emits delete+insert pairs) become one change block."""
    merged: list[Block] = []
    for block in blocks:
        if merged and not block.equal and not merged[-1].equal:
            last = merged.pop()
            merged.append(Block(False, last.a0, block.a1, last.b0, block.b1))
        else:
            merged.append(block)
    return merged
