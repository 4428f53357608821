"""Word boundaries for scripts written without spaces (Chinese, Japanese, Korean).

SQLite's ``unicode61`` tokenizer makes one token of a whole run of letters, so a Chinese sentence
is one "word" and nothing inside it can be found. :func:`segment` puts :data:`SEPARATOR`
(U+200B ZERO WIDTH SPACE, which ``unicode61`` treats as a separator and no reader sees) around
every CJK character, so each one becomes a token and any substring of a CJK run is a phrase of
consecutive tokens. Latin words, digits and everything else are left as they are, which keeps their
word matching and ranking; a boundary between a CJK run and a digit run (``字2025字``) becomes a
token boundary, so ``2025`` is a word of its own.

The same function segments the indexed text (SQL function :data:`SQL_FUNCTION`, registered on every
connection by ``sidecar.storage.sqlite``) and the words of a query (``sidecar.query.search``): both
sides always agree.
"""

from __future__ import annotations

import re

SEPARATOR = "\u200b"
SQL_FUNCTION = "sidecar_segment"

# Han ideographs (with extensions, compatibility forms, iteration marks and Hangzhou numerals),
# kana (with half-width forms and the prolonged sound mark), Bopomofo, and Hangul
# (syllables, jamo, compatibility and half-width jamo): letters of scripts written without spaces
# between words. Korean does separate words, but particles attach to them (학교에서), so a word is
# found inside its eojeol only when syllables are tokens. (CJK and Kangxi radicals are symbols:
# unicode61 never makes tokens of them.)
_CJK = (
    "\u1100-\u11ff"  # Hangul Jamo
    "\u3005-\u3007\u3021-\u3029\u3031-\u3035\u3038-\u303c"  # 々〆〇, Hangzhou numerals, kana marks
    "\u3040-\u30ff"  # Hiragana, Katakana
    "\u3100-\u312f\u3130-\u318f\u31a0-\u31bf\u31f0-\u31ff"  # Bopomofo, Hangul compat. jamo
    "\u3400-\u4dbf\u4e00-\u9fff"  # CJK Unified Ideographs and extension A
    "\ua960-\ua97f\uac00-\ud7af\ud7b0-\ud7ff"  # Hangul jamo ext. A, syllables, jamo ext. B
    "\uf900-\ufaff"  # CJK compatibility ideographs
    "\uff66-\uff9f\uffa0-\uffdc"  # half-width katakana and Hangul
    "\U0001b000-\U0001b16f"  # kana supplement and extensions
    "\U00020000-\U0003134f"  # CJK extensions B to H, compatibility supplement
)
_ANY = re.compile(f"[{_CJK}]")
_AROUND = SEPARATOR + r"\g<0>" + SEPARATOR
_TWICE = SEPARATOR * 2

# A quick look at UTF-8 lead bytes rules most text out before the regular expression (which
# costs ~10 ns a character, and runs on every message and value indexed). Every character above
# is encoded starting with one of these bytes: E1 (U+1000-1FFF), E3-ED (U+3000-DFFF), EF
# (U+F000-FFFF), F0 (U+10000-3FFFF). Latin text with dashes, quotes and ellipses (E2) has none.
_LEADS = bytes([0xE1, *range(0xE3, 0xEE), 0xEF, 0xF0])
_NOT_LEADS = bytes(b for b in range(256) if b not in _LEADS)


def _may_have_cjk(text: str) -> bool:
    return bool(text.encode("utf-8", "surrogatepass").translate(None, _NOT_LEADS))


def segment(text: object) -> str | None:
    """``text`` with a separator around every CJK character; None when there is nothing to
    separate (not a string, or no CJK character), so callers index the text as it is."""
    if not isinstance(text, str) or text.isascii() or not _may_have_cjk(text):
        return None
    # A separator on each side of every CJK character, then one where two meet: the template
    # runs in C, where a callback per run cost a quarter more (measured over a benchmark root).
    result, count = _ANY.subn(_AROUND, text)
    return result.replace(_TWICE, SEPARATOR) if count else None


def has_cjk(text: str) -> bool:
    return not text.isascii() and _may_have_cjk(text) and _ANY.search(text) is not None


def unsegment(text: str) -> str:
    """Text shown to people (snippets): the separators removed."""
    return text.replace(SEPARATOR, "")
