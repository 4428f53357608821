"""The text generated chats are cut from: a vocabulary of common and made-up words with Zipf
weights (a few words everywhere, most rare, as search meets them), and a long role-play-ish pool
of sentences, *actions*, "quotes" and paragraphs built from it. The same seed, the same text."""

from __future__ import annotations

import random

WORDS = (  # noqa: SIM905 - a word list reads better as text
    "the she he they her his their and but with into from over under again softly slowly light "
    "shadow door window rain fire blade voice hand eyes smile breath silence night morning castle "
    "forest road tavern letter promise memory dream whisper laugh glance step turn reach café "
    "naïve déjà 字字 ещё — … 😀"
).split()
SYLLABLES = (
    "ka", "ri", "mo", "en", "thal", "vor", "is", "an", "del", "ur",
    "sha", "ne", "li", "gor", "bel", "tha", "ry", "os", "im", "qua",
)  # fmt: skip


def _vocabulary() -> tuple[list[str], list[float]]:
    """The common words first, then 6,000 made-up words, with Zipf weights (1/rank): like real
    text, a few words are everywhere and most words are rare (which is what search meets)."""
    made_up = [
        a + b + c for a in SYLLABLES for b in SYLLABLES for c in ("", *SYLLABLES[:14]) if a != b
    ][:6000]
    words = list(WORDS) + made_up
    return words, [1.0 / (rank + 1) for rank in range(len(words))]


VOCABULARY, ZIPF = _vocabulary()


def text_pool(seed: int, chars: int = 1 << 21) -> str:
    """A long role-play-ish text to slice from: words, *actions*, "quotes", paragraphs."""
    rng = random.Random(seed)
    out: list[str] = []
    size = 0
    while size < chars:
        words = rng.choices(VOCABULARY, weights=ZIPF, k=rng.randint(6, 18))
        sentence = " ".join(words).capitalize() + rng.choice((".", ".", "!", "?", "..."))
        style = rng.random()
        if style < 0.2:
            sentence = f"*{sentence}*"
        elif style < 0.45:
            sentence = f'"{sentence}"'
        sentence += "\n\n" if rng.random() < 0.15 else " "
        out.append(sentence)
        size += len(sentence)
    return "".join(out)
