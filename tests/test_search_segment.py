"""The segmentation function shared by the indexed text and the queries (pure, no database)."""

from __future__ import annotations

import random
import re

from sidecar.storage.segment import _ANY, _CJK, SEPARATOR, has_cjk, segment, unsegment


def test_cjk_characters_become_tokens() -> None:
    z = SEPARATOR
    assert segment("字2025字") == f"{z}字{z}2025{z}字{z}"
    assert segment("学校에서 OK") == f"{z}学{z}校{z}에{z}서{z} OK"
    assert segment("ｶﾀｶﾅ") == f"{z}ｶ{z}ﾀ{z}ｶ{z}ﾅ{z}"
    assert segment("𠀀") == f"{z}𠀀{z}"  # extension B, outside the BMP
    for text in ("plain", "He said — softly… “yes” 😀", "café naïve ещё", "", "⼀⺀"):
        assert segment(text) is None  # nothing to separate: indexed as it is
    assert segment(None) is None
    assert segment(42) is None
    assert unsegment(segment("版本字2025字发布") or "") == "版本字2025字发布"


def test_the_quick_check_never_skips_cjk() -> None:
    """Random text from many blocks: segment() finds CJK exactly when the pattern does."""
    blocks = [
        (0x20, 0x250), (0x1000, 0x1300), (0x2000, 0x3100), (0x4E00, 0x4E80), (0xA000, 0xA100),
        (0xAC00, 0xAC40), (0xD700, 0xD800), (0xE000, 0xE010), (0xF800, 0x10000),
        (0x1B000, 0x1B180), (0x1F600, 0x1F610), (0x20000, 0x20010), (0x31340, 0x31360),
    ]  # fmt: skip
    alphabet = [chr(c) for low, high in blocks for c in range(low, high)]
    rng = random.Random(7)
    for _ in range(20_000):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(1, 6)))
        expected = _ANY.search(text) is not None
        assert (segment(text) is not None) == expected, repr(text)
        assert has_cjk(text) == expected, repr(text)


def _by_runs(text: str) -> str:
    """The definition: a separator before, between and after the characters of each CJK run."""
    z = SEPARATOR
    return re.sub(f"[{_CJK}]+", lambda run: z + z.join(run.group()) + z, text)


def test_segment_is_its_definition() -> None:
    """Exactly the run-by-run form; where the text already had zero-width spaces next to a CJK
    character it may hold fewer of them, which gives the tokenizer the same tokens."""
    alphabet = [chr(c) for c in (*range(0x20, 0x80), 0x200B, *range(0x3000, 0x3010),
                                 *range(0x4E00, 0x4E10), 0xAC00, 0x1F600, 0x20000)]  # fmt: skip
    rng = random.Random(11)
    for _ in range(20_000):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(1, 12)))
        found, wanted = segment(text), _by_runs(text)
        if found is None:
            assert wanted == text, repr(text)
        elif SEPARATOR not in text:
            assert found == wanted, repr(text)
        else:
            assert [t for t in found.split(SEPARATOR) if t] == [
                t for t in wanted.split(SEPARATOR) if t
            ], repr(text)
