"""Recall and speed of sidecar's chat search (``/chats?q=``) against SillyTavern's own chat search
(``POST /api/chats/search``, real server) on the same files, for ``benchmarks/query.py``."""

from __future__ import annotations

import re
import statistics
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
    found: int = 0
    st_calls: list[float] = field(default_factory=list)  # one call per character
    st_queries: list[float] = field(default_factory=list)  # all characters of one query
    misses: dict[str, list[str]] = field(default_factory=dict)  # reason -> examples


def sidecar_pairs(client: httpx.Client, q: str) -> set[Pair]:
    pairs: set[Pair] = set()
    params: dict[str, Any] = {"q": q, "limit": 1000}
    while True:
        body = client.get("/chats", params=params).raise_for_status().json()
        pairs |= {(item["character"], item["fileName"]) for item in body["items"]}
        if body["nextCursor"] is None:
            return pairs
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
            ours = sidecar_pairs(client, q)
            category.st_pairs += len(st_found)
            category.found += len(st_found & ours)
            for pair in sorted(st_found - ours):
                reason = _why(root, pair, q)
                category.misses.setdefault(reason, []).append(f"{q!r} in {pair[0]}/{pair[1]}")
            progress(
                f"  {name:13} {q!r:16} SillyTavern {len(st_found):4} chats in "
                f"{total / 1000:6.1f} s, sidecar has {len(st_found & ours)} of them "
                f"(and {len(ours - st_found)} more)"
            )
        results.append(category)
    return results


def _p(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))] if ordered else float("nan")


def report(results: list[Category]) -> bool:
    """Print recall and SillyTavern's timings; True when every pair was found."""
    print("\nRecall against SillyTavern's own chat search ((query, chat) pairs it finds):")
    print(f"{'category':14} {'ST pairs':>8} {'sidecar':>8} {'recall':>7}   SillyTavern per call"
          "          per query (all characters)")  # fmt: skip
    total = found = 0
    for c in results:
        total, found = total + c.st_pairs, found + c.found
        recall = 100.0 * c.found / c.st_pairs if c.st_pairs else 100.0
        calls = f"p50 {statistics.median(c.st_calls):8.0f} ms p95 {_p(c.st_calls, 0.95):8.0f} ms"
        queries = f"p50 {statistics.median(c.st_queries) / 1000:6.1f} s"
        print(f"{c.name:14} {c.st_pairs:8} {c.found:8} {recall:6.1f}%   {calls}   {queries}")
    ok = found == total
    print(f"{'all':14} {total:8} {found:8} {100.0 * found / max(total, 1):6.1f}%"
          f"   (target: every pair) {'PASS' if ok else 'MISS'}")  # fmt: skip
    for c in results:
        for reason, examples in c.misses.items():
            print(f"  missed, {c.name}: {len(examples)} pair(s) {reason}; e.g. {examples[:3]}")
    return ok
