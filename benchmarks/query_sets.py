"""The queries of ``benchmarks/query.py``, by category, drawn deterministically from the generated
corpus: Latin words by how often they occur (``chat_text``'s Zipf vocabulary), CJK substrings of
2-4 characters and runs that mix digits with CJK characters (``chatgen_cjk``)."""

from __future__ import annotations

import random
import re
from collections import Counter
from pathlib import Path

import chat_text
import chatgen_cjk
import msgspec

CJK_RUN = re.compile("[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af]{2,}")
CATEGORIES = ("very common", "common", "rare", "CJK", "mixed digits")


def _texts(paths: list[Path]) -> list[str]:
    out = []
    for path in paths:
        with open(path, "rb") as handle:
            for line in handle:
                obj = msgspec.json.decode(line)
                text = obj.get("mes") if isinstance(obj, dict) else None
                if isinstance(text, str):
                    out.append(text)
    return out


def _latin(count: int, rng: random.Random, texts: list[str]) -> dict[str, list[str]]:
    """Words that occur as words, by document frequency: the most frequent, a middle band, and
    words found in a handful of messages only."""
    frequency: Counter[str] = Counter()
    for text in texts:
        frequency.update({w.lower() for w in re.findall(r"[^\W\d_]+", text)})
    vocabulary = {w.lower() for w in chat_text.VOCABULARY if w.isalpha()}
    ranked = [w for w, _ in frequency.most_common() if w in vocabulary]
    very = ranked[: max(count // 2, 5)]
    common = ranked[20:120]
    rare = [w for w in ranked if 2 <= frequency[w] <= 20]
    return {
        "very common": [rng.choice(very) for _ in range(count)],
        "common": rng.sample(common, min(count, len(common))),
        "rare": rng.sample(rare, min(count, len(rare))),
    }


def _cjk(count: int, rng: random.Random, texts: list[str]) -> list[str]:
    runs = [run for text in texts for run in CJK_RUN.findall(text)]
    found = []
    for run in rng.sample(runs, min(len(runs), count * 4)):
        n = rng.randint(2, min(4, len(run)))
        start = rng.randrange(len(run) - n + 1)
        found.append(run[start : start + n])
    return list(dict.fromkeys(found))[:count]


def _mixed(count: int, rng: random.Random) -> list[str]:
    years = chatgen_cjk.YEARS
    pool = [str(y) for y in years] + [f"字{y}字" for y in years] + [f"{y}年" for y in years]
    pool += [f"第{n}章" for n in (1, 7, 12, 42, 99)] + ["2025年3月", "12月"]
    return rng.sample(pool, min(count, len(pool)))


def query_sets(latin: list[Path], cjk: list[Path], count: int, seed: int) -> dict[str, list[str]]:
    """``count`` queries per category (fewer when the corpus has fewer)."""
    rng = random.Random(f"queries-{seed}")
    sets = _latin(count, rng, _texts(sorted(latin)[:40]))
    sets["CJK"] = _cjk(count, rng, _texts(sorted(cjk)))
    sets["mixed digits"] = _mixed(count, rng)
    return {name: sets[name] for name in CATEGORIES}
