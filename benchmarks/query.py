"""Query API speed on the indexer benchmark's corpus, against a naive scan of the chat files.

Generates the data root of ``benchmarks/index.py`` (``chatgen``; ``--scale`` shrinks it), indexes
it, serves the API with a real uvicorn on 127.0.0.1, and times from one client:

- a data lookup by chat/position/namespace/key
  (``GET /chats/{chatId}/messages/{position}/data/{namespace}/{key}``), 200 random lookups;
- a ``/data/{namespace}`` filter across all chats (``key=scene_break&value=true``), 20 times;
- ``/search`` for 20 different words;
- the naive scan SillyTavern's own chat search does per request: read every chat file, parse every
  line, look for the word in the message text; for the same 20 words.

Run: ``python benchmarks/query.py [--scale 1.0] [--seed 1]``; scale 1.0 is the corpus of
``benchmarks/index.py``.
Targets: lookups p95 <= 10 ms, search p95 <= 100 ms, search >= 50x faster than the naive scan.
"""

from __future__ import annotations

import argparse
import random
import shutil
import socket
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import chatgen
import httpx
import msgspec
import uvicorn

from sidecar.api.app import create_app
from sidecar.config import Settings
from sidecar.daemon.wiring import create_indexer, create_registry, open_catalog, open_line_store
from sidecar.indexer.scan import full_scan
from tests import handsoff

PREFIX = "/api/plugins/valuetracker"
WORDS = 20


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def index(root: Path, db_dir: Path) -> float:
    settings = Settings.model_validate(
        {"storage": {"database_dir": str(db_dir)}, "sillytavern": {"data_root": str(root)}}
    )
    registry = create_registry(settings)
    registry.open()
    catalog, lines = open_catalog(settings), open_line_store(settings)
    try:
        started = time.perf_counter()
        full_scan(create_indexer(settings, registry, catalog, lines, root))
        return time.perf_counter() - started
    finally:
        lines.close()
        catalog.close()
        registry.close()


def serve(db_dir: Path) -> tuple[uvicorn.Server, threading.Thread, str]:
    settings = Settings.model_validate(
        {"storage": {"database_dir": str(db_dir)}, "sillytavern": {"data_root": None}}
    )
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    config = uvicorn.Config(create_app(settings), host="127.0.0.1", port=port, log_config=None)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline:
            raise SystemExit("the server did not start")
        time.sleep(0.02)
    return server, thread, f"http://127.0.0.1:{port}{PREFIX}"


def timed(client: httpx.Client, path: str, **params: str | int) -> float:
    """Milliseconds for one GET (which must answer 200)."""
    started = time.perf_counter()
    response = client.get(path, params=params)
    elapsed = (time.perf_counter() - started) * 1000
    if response.status_code != 200:
        raise SystemExit(f"{response.request.url}: {response.status_code} {response.text[:200]}")
    return elapsed


def naive_search(root: Path, word: str) -> int:
    """What SillyTavern's chat search does: read and scan every chat file for each query."""
    hits = 0
    needle = word.lower()
    for path in root.rglob("*.jsonl"):
        with open(path, "rb") as handle:
            for line in handle:
                try:
                    obj = msgspec.json.decode(line)
                except msgspec.DecodeError:
                    continue
                text = obj.get("mes") if isinstance(obj, dict) else None
                if isinstance(text, str) and needle in text.lower():
                    hits += 1
    return hits


def words_of(root: Path, count: int, rng: random.Random) -> list[str]:
    """Real words from the corpus' message texts (so searches find something)."""
    pool: set[str] = set()
    for path in sorted(root.rglob("*.jsonl"))[:5]:
        with open(path, "rb") as handle:
            for line in handle:
                obj = msgspec.json.decode(line)
                text = obj.get("mes") if isinstance(obj, dict) else None
                if isinstance(text, str):
                    pool.update(w for w in text.split() if w.isalpha() and len(w) > 4)
    return rng.sample(sorted(pool), min(count, len(pool)))


def lookups(client: httpx.Client, rng: random.Random) -> list[float]:
    chats = client.get("/chats", params={"namespace": "qvink_memory", "limit": 1000}).json()
    targets: list[tuple[str, int]] = []
    for chat in rng.sample(chats["items"], min(20, len(chats["items"]))):
        params = {"chatId": chat["chatId"], "key": "memory", "selected": "true", "limit": 50}
        rows = client.get("/data/qvink_memory", params=params)
        targets += [(item["chatId"], item["position"]) for item in rows.json()["items"]]
    if not targets:
        raise SystemExit("no qvink_memory data found to look up")
    picks = [rng.choice(targets) for _ in range(200)]
    return [
        timed(client, f"/chats/{chat}/messages/{position}/data/qvink_memory/memory")
        for chat, position in picks
    ]


def report(name: str, times: list[float], target: float | None = None) -> bool:
    p50, p95, worst = statistics.median(times), percentile(times, 0.95), max(times)
    verdict = "" if target is None else ("PASS" if p95 <= target else "MISS")
    goal = f" (target p95 <= {target:.0f} ms) {verdict}" if target else ""
    figures = f"p50 {p50:7.2f} ms  p95 {p95:7.2f} ms  max {worst:7.2f} ms"
    print(f"{name:38} n={len(times):4}  {figures}{goal}")
    return target is None or p95 <= target


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    work = Path(tempfile.mkdtemp(prefix="sidecar-query-bench-"))
    try:
        root, db_dir = work / "root", work / "db"
        corpus = chatgen.generate(root, scale=args.scale, seed=args.seed)
        size = sum(chat.path.stat().st_size for chat in corpus.chats)
        print(f"corpus: {len(corpus.chats)} chats, {size / 1e6:.1f} MB (scale {args.scale})")
        manifest = handsoff.track(handsoff.Manifest(root))  # sidecar must leave them alone
        print(f"indexed in {index(root, db_dir):.1f} s")
        server, thread, base = serve(db_dir)
        try:
            with httpx.Client(base_url=base, timeout=60) as client:
                ok = report("data lookup chat/position/ns/key", lookups(client, rng), 10)
                data = [
                    timed(client, "/data/auto_recap_memory", key="scene_break", value="true",
                          limit=1000)
                    for _ in range(20)
                ]  # fmt: skip
                report("/data filter across all chats", data)
                words = words_of(root, WORDS, rng)
                searches = [timed(client, "/search", q=word) for word in words]
                ok &= report(f"/search ({len(words)} words)", searches, 100)
        finally:
            server.should_exit = True
            thread.join(timeout=10)
        naive = []
        for word in words:
            started = time.perf_counter()
            naive_search(root, word)
            naive.append((time.perf_counter() - started) * 1000)
        report("naive scan of every file (baseline)", naive)
        ratio = statistics.median(naive) / statistics.median(searches)
        verdict = "PASS" if ratio >= 50 else "MISS"
        print(f"search vs naive scan: {ratio:,.0f}x faster (median; target >= 50x) {verdict}")
        print("all targets met" if ok and ratio >= 50 else "some targets missed")
        if not handsoff.check(manifest):
            sys.exit(1)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
