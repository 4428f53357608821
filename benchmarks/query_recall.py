"""Recall and speed of sidecar's chat search (``/chats?q=``) against SillyTavern's own chat search
(``POST /api/chats/search``, real server) on the same files, for ``benchmarks/query.py``."""

from __future__ import annotations

import re
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import msgspec
from st_server import SillyTavern

CJK = re.compile("[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af]")
Pair = tuple[str, str]  # (character folder, chat name without .jsonl)


@dataclass
class Category:
    name: str
    st_pairs: int = 0
    found: int = 0  # by sidecar's /chats?q= (words, the default)
    found_substring: int = 0  # by /chats?q=&match=substring
    substring_ms: list[float] = field(default_factory=list)
    st_calls: list[float] = field(default_factory=list)  # one call per character
    st_queries: list[float] = field(default_factory=list)  # all characters of one query
    misses: dict[str, list[str]] = field(default_factory=dict)  # reason -> examples


def sidecar_pairs(client: httpx.Client, q: str, match: str = "words") -> tuple[set[Pair], float]:
    """The chats sidecar's chat search finds, and the milliseconds all its pages took."""
    pairs: set[Pair] = set()
    params: dict[str, Any] = {"q": q, "limit": 1000, "match": match}
    started = time.perf_counter()
    while True:
        body = client.get("/chats", params=params).raise_for_status().json()
        pairs |= {(item["character"], item["fileName"]) for item in body["items"]}
        if body["nextCursor"] is None:
            return pairs, (time.perf_counter() - started) * 1000
        params["cursor"] = body["nextCursor"]


def _why(root: Path, pair: Pair, q: str) -> str:
    """Why sidecar missed a chat SillyTavern found (read from the file itself)."""
    path = root / "default-user" / "chats" / pair[0] / f"{pair[1]}.jsonl"
    texts = []
    for line in path.read_bytes().split(b"\n"):
        obj = msgspec.json.decode(line)
        if isinstance(obj, dict) and isinstance(obj.get("mes"), str):
            texts.append(obj["mes"].lower())
    for word in q.lower().split():
        latin = word.isalpha() and not CJK.search(word)
        whole = re.compile(rf"(?<![^\W_]){re.escape(word)}(?![^\W_])")
        if latin and not any(whole.search(text) for text in texts):
            return (
                "only inside longer words (SillyTavern matches any substring; "
                "sidecar matches Latin words whole)"
            )
    return "UNEXPLAINED (sidecar should have matched)"


def compare(
    st: SillyTavern,
    client: httpx.Client,
    root: Path,
    sets: dict[str, list[str]],
    per_category: int,
    progress: Callable[[str], None],
) -> list[Category]:
    characters = sorted(p.name for p in (root / "default-user" / "chats").iterdir())
    results = []
    for name, queries in sets.items():
        category = Category(name)
        for q in list(dict.fromkeys(queries))[:per_category]:
            st_found: set[Pair] = set()
            total = 0.0
            for character in characters:
                names, ms = st.search(q, character)
                st_found |= {(character, chat) for chat in names}
                category.st_calls.append(ms)
                total += ms
            category.st_queries.append(total)
            ours, _ = sidecar_pairs(client, q)
            exact, ms = sidecar_pairs(client, q, "substring")
            category.substring_ms.append(ms)
            category.st_pairs += len(st_found)
            category.found += len(st_found & ours)
            category.found_substring += len(st_found & exact)
            for pair in sorted(st_found - ours):
                reason = _why(root, pair, q)
                category.misses.setdefault(reason, []).append(f"{q!r} in {pair[0]}/{pair[1]}")
            progress(
                f"  {name:13} {q!r:16} SillyTavern {len(st_found):4} chats in "
                f"{total / 1000:6.1f} s, sidecar has {len(st_found & ours)} of them "
                f"(and {len(ours - st_found)} more); match=substring has "
                f"{len(st_found & exact)} in {ms:.0f} ms"
            )
        results.append(category)
    return results


def _p(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))] if ordered else float("nan")


def report(results: list[Category]) -> bool:
    """Print recall of both modes and the timings; True when match=substring found every pair."""
    print("\nRecall against SillyTavern's own chat search ((query, chat) pairs it finds):")
    print(f"{'category':14} {'ST pairs':>8} {'words':>7} {'substring':>9}   "
          "SillyTavern per call           per query   sidecar substring per query")  # fmt: skip
    total = words = exact = 0
    for c in results:
        total, words, exact = total + c.st_pairs, words + c.found, exact + c.found_substring
        share = f"{_pct(c.found, c.st_pairs):6.1f}% {_pct(c.found_substring, c.st_pairs):8.1f}%"
        calls = f"p50 {statistics.median(c.st_calls):7.0f} ms p95 {_p(c.st_calls, 0.95):7.0f} ms"
        queries = f"p50 {statistics.median(c.st_queries) / 1000:6.1f} s"
        ours = f"p50 {statistics.median(c.substring_ms):6.0f} ms"
        ours += f" p95 {_p(c.substring_ms, 0.95):6.0f} ms"
        print(f"{c.name:14} {c.st_pairs:8} {share}   {calls}   {queries}   {ours}")
    ok = exact == total
    print(f"{'all':14} {total:8} {_pct(words, total):6.1f}% {_pct(exact, total):8.1f}%"
          f"   (target: every pair, match=substring) {'PASS' if ok else 'MISS'}")  # fmt: skip
    for c in results:
        for reason, examples in c.misses.items():
            print(f"  words mode missed, {c.name}: {len(examples)} pair(s) {reason}; "
                  f"e.g. {examples[:3]}")  # fmt: skip
    return ok


def _pct(part: int, whole: int) -> float:
    return 100.0 * part / whole if whole else 100.0
