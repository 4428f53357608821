"""Shared pieces of ``benchmarks/query.py``: indexing a data root as ``sidecar index`` does,
serving the API with a real uvicorn on 127.0.0.1, timing GETs, the data lookups, and the naive
scan of every chat file that SillyTavern's own search does."""

from __future__ import annotations

import random
import socket
import statistics
import threading
import time
from pathlib import Path

import httpx
import msgspec
import uvicorn

from sidecar.api.app import create_app
from sidecar.config import Settings
from sidecar.daemon.wiring import create_indexer, create_registry, open_catalog, open_line_store
from sidecar.indexer.scan import full_scan

PREFIX = "/api/plugins/valuetracker"


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
