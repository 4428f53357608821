"""Soak test of ``sidecar run``: hours of use compressed into minutes, watching for leaks.

``python -m sidecar run`` runs as a subprocess (real uvicorn, real watchdog) on a generated data
root: ``--chats`` chats (40-120 messages, two extension namespaces) over three users and eight
characters. For ``--minutes``:

- every chat is saved once a second (staggered), SillyTavern-style (temp file, fsync, rename),
  with a realistic edit each time (``soak_chats.py``: extension data of the selected or another
  swipe, a swipe switch or regenerate, a new message, a deleted last message);
- a client process sends ``--rate`` requests/s, open loop (``soak_load.py``), mixing value-tracker
  reads and writes with queries (chats, messages, message data, search, history, status), while
  ``--subscribers`` clients follow the change feed ``/events``.

Every interval it prints requests, errors, p50/p99 latency, saves, change events received, and the
daemon's RSS (``/proc/<pid>/status``), open file descriptors (``/proc/<pid>/fd``), threads and CPU,
summed over its two processes (the API process and the indexer process). At the end, once the daemon
has caught up, it reads every chat through the API and compares it with the last saved file (message
count, each message's text and swipes, and every swipe's extension data), counts the versions
sidecar recorded against the saves made, checks the SillyTavern files are exactly as the saves left
them, and stops the daemon with SIGTERM.

Targets: 0 errors; final index equals the files; RSS growth < 10% from the end of the warm-up
(the first 20% of the run, while SQLite's page caches fill) to the end; no fd leak: sockets
after the load (clients gone) no more than before it, other fds (databases, line packs) at the
end of the run at most 2 more than at its middle (a read pool may open one more connection late;
a leak keeps growing); the change feeds followed without a failure; every scheduled save made
(how late the latest was is printed); no error in the daemon's log; exit 0 after SIGTERM;
SillyTavern files unchanged; API p99 latency (from when each request was due) at most 250 ms in
every interval. The RSS slope over the second half (MB/min) is printed too: a leak keeps it up.

Run:  python benchmarks/soak/soak.py [--minutes 10] [--chats 50] [--rate 200] [--seed 1]
      (``--seconds N`` for a short run; ``--keep DIR`` keeps the data, databases and log.)
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # benchmarks/: chatgen
import chatgen  # noqa: F401 - puts the repository on sys.path for tests.handsoff
import httpx
import soak_chats
import soak_load
from soak_daemon import Daemon, Sampler
from soak_report import finish, line

from tests import handsoff

PREFIX = "/api/plugins/valuetracker"
EXT = "soak_tracker"


def setup_tracker(http: httpx.Client) -> tuple[list[str], list[str], list[str]]:
    """An extension with 10 characters, 50 instances and 20 keys each."""
    assert http.post("/register", json={"extensionId": EXT}).status_code == 200
    headers = {"x-extension-id": EXT}
    characters = [f"char{i}" for i in range(10)]
    instances = [f"inst{i}" for i in range(50)]
    keys = [f"key {k}" for k in range(20)]
    for i, character in enumerate(characters):
        body = {"id": character, "name": f"Character {i}"}
        assert http.post("/characters", json=body, headers=headers).status_code == 200
    for i, instance in enumerate(instances):
        body = {"id": instance, "characterId": characters[i % 10]}
        assert http.post("/instances", json=body, headers=headers).status_code == 200
        data = {key: {"value": k} for k, key in enumerate(keys)}
        put = http.put(f"/instances/{instance}/data/override", json=data, headers=headers)
        assert put.status_code == 200
    return characters, instances, keys


def chat_ids(http: httpx.Client, chats: list[soak_chats.SoakChat]) -> list[str]:
    items = http.get("/chats", params={"limit": 1000}).json()["items"]
    by_name = {(c["user"], c["character"], c["fileName"]): c["chatId"] for c in items}
    return [by_name[chat.user, chat.character, chat.name] for chat in chats]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--seconds", type=float, help="run length in seconds (overrides minutes)")
    parser.add_argument("--chats", type=int, default=50)
    parser.add_argument("--rate", type=float, default=200.0, help="requests per second")
    parser.add_argument("--subscribers", type=int, default=2, help="change-feed clients")
    parser.add_argument("--interval", type=float, help="seconds per report line (default 60)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--keep", type=Path, help="work in DIR and keep it")
    args = parser.parse_args()
    args.seconds = args.seconds if args.seconds is not None else args.minutes * 60
    if args.interval is None:
        args.interval = 60.0 if args.seconds >= 300 else max(1.0, args.seconds / 10)
    work = args.keep or Path(tempfile.mkdtemp(prefix="sidecar-soak-"))
    for name in ("data", "db"):
        shutil.rmtree(work / name, ignore_errors=True)
    work.mkdir(parents=True, exist_ok=True)
    try:
        ok = run(work, args)
    finally:
        if args.keep is None:
            shutil.rmtree(work, ignore_errors=True)
    sys.exit(0 if ok else 1)


def run(work: Path, args: argparse.Namespace) -> bool:
    started = time.monotonic()
    chats = soak_chats.generate(work / "data", args.chats, args.seed)
    size = sum(chat.path.stat().st_size for chat in chats)
    messages = sum(len(chat.messages) for chat in chats)
    print(f"generated {len(chats)} chats, {messages:,} messages, {size / 1e6:.1f} MB in "
          f"{time.monotonic() - started:.1f} s ({work})", flush=True)  # fmt: skip
    manifest = handsoff.track(handsoff.Manifest(work / "data"))
    daemon = Daemon(work / "data", work / "db", work / "sidecar.log")
    try:
        return soak(daemon, chats, manifest, args)
    finally:
        if daemon.proc.poll() is None:
            daemon.proc.kill()
            daemon.proc.wait(10)


def soak(
    daemon: Daemon,
    chats: list[soak_chats.SoakChat],
    manifest: handsoff.Manifest,
    args: argparse.Namespace,
) -> bool:
    count = len(chats)
    daemon.wait(lambda s: s.get("chats") == count and s.get("reconciling") is False, 600,
                "reconciled")  # fmt: skip
    characters, instances, keys = setup_tracker(daemon.http)
    ids = chat_ids(daemon.http, chats)
    before = daemon.sample()
    print(f"daemon ready: {count} chats indexed; RSS {before.rss:.1f} MB, {before.fds} fds, "
          f"{before.threads} threads", flush=True)  # fmt: skip
    start = time.monotonic() + 1.0
    targets = tuple(
        soak_load.Target(chat_id, chat.stable, tuple(chat.with_data))
        for chat_id, chat in zip(ids, chats, strict=True)
    )
    plan = soak_load.Plan(daemon.base, args.rate, start, args.seconds, args.interval, args.seed,
                          targets, EXT, tuple(characters), tuple(instances), tuple(keys),
                          args.subscribers)  # fmt: skip
    context = mp.get_context("spawn")
    results: Any = context.Queue()
    client = context.Process(target=soak_load.client_process, args=(plan, results), daemon=True)
    client.start()
    saver = soak_chats.Saver(chats, start, start + args.seconds, args.seed)
    sampler = Sampler(daemon, saver, start, args)
    saver.start()
    sampler.start()
    print(f"load: {args.rate:g} requests/s open loop, {count} saves/s, {args.subscribers} feed "
          f"clients, {args.seconds:g} s; one line per {args.interval:g} s", flush=True)  # fmt: skip
    intervals: list[soak_load.Interval] = []
    summary: dict[str, Any] = {}
    while not summary:
        kind, item = results.get(timeout=args.seconds + 120)
        if kind == "done":
            summary = item
            continue
        intervals.append(item)
        now = sampler.wait_for(item.index)
        then = sampler.samples[item.index - 1] if item.index else before
        print(line(item, now, then, start), flush=True)
    client.join(30)
    saver.join(30)
    sampler.join(30)
    return finish(daemon, chats, ids, manifest, saver, intervals, summary, before, sampler)


if __name__ == "__main__":
    main()
