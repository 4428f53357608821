"""The value-tracker API beside the old Value Tracker plugin, measured in one run, one client.

Starts the old plugin (Node, ``../shared/baselines/valuetracker-plugin``, served the way
SillyTavern mounts it) and two real ``sidecar run`` processes on 127.0.0.1: one with no data root
(the API alone) and one watching a small generated SillyTavern data root (20 chats; checked
unchanged at the end). Every scenario runs against each server in turn with the same client:

- GET one key, POST one key on an empty database, POST one key on a ~5 MB database: the shared
  ``../shared/tools/http_load.py`` (2 processes x 4 threads, keep-alive), as in issue 15; POST
  bodies get a new key each (``--vary-key``); each round's empty-database run uses a new extension;
- GET one key over 500 concurrent keep-alive connections (``vt_load.many_connections``).

For each: requests/s, p50/p99, errors, and the server's CPU per request (CPU seconds of its
process tree from ``/proc/<pid>/stat`` over the run, divided by the requests answered), then the
ratio to the old plugin beside the target:

  GET one key >= 1.2x the old plugin; POST one key >= 1.5x (empty) and >= 7x (5 MB);
  CPU per request <= the old plugin's; 500 connections: >= 1,000 req/s with 0 errors.

Each server first gets ``--warmup`` unmeasured seconds of GET and of POST load.

Run:  python benchmarks/valuetracker.py [--seconds 5] [--rounds 1] [--connections 500]
(``--rounds 3`` prints the median of three rounds.) Needs node and npm; the plugin's packages are
installed with ``npm ci`` into a temporary copy. Everything is removed at the end.
"""

from __future__ import annotations

import argparse
import random
import shutil
import statistics
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import chat_text
import chatgen
from vt_load import Load, http_load, many_connections, request_bytes
from vt_servers import ROOT, Server, start_plugin, start_sidecar

sys.path.insert(0, str(ROOT))  # for tests.handsoff
from tests import handsoff

GET_EXT, FULL_EXT = "vt_get", "vt_5mb"
POST_BODY = {"key": "k", "value": {"n": 1, "text": "x" * 100}}
FILLER_KEYS, FILLER_BYTES = 50, 100_000  # the 5 MB database: 50 values of 100 KB
TARGETS = {  # scenario -> (minimum ratio to the old plugin's req/s)
    "GET one key": 1.2,
    "POST one key, empty db": 1.5,
    "POST one key, 5 MB db": 7.0,
}
MANY = "GET one key, {n} connections"
BROKEN_GET = (
    "The old plugin's GET one key is broken: it answers {} without reading the row, so its\n"
    "figure is a request that does no database work at all (sidecar reads the value)."
)


@dataclass
class Row:
    scenario: str
    server: str
    load: Load


def character_with_instance(server: Server, ext: str) -> None:
    server.call("POST", "/register", {"extensionId": ext})
    server.call("POST", "/characters", {"id": "c", "name": "Bench"}, ext)
    server.call("POST", "/instances", {"id": "i", "characterId": "c", "name": "main"}, ext)


def prepare(server: Server) -> None:
    """The GET database (key ``hp``) and the ~5 MB database, through the server's own API."""
    character_with_instance(server, GET_EXT)
    server.call("POST", "/instances/i/data", {"key": "hp", "value": 100}, GET_EXT)
    character_with_instance(server, FULL_EXT)
    server.call("POST", "/instances", {"id": "filler", "characterId": "c", "name": None}, FULL_EXT)
    rng = random.Random(7)
    for n in range(FILLER_KEYS):
        value = rng.randbytes(FILLER_BYTES // 2).hex()
        server.call("POST", "/instances/filler/data", {"key": f"f{n}", "value": value}, FULL_EXT)


def warm_up(server: Server, seconds: float) -> None:
    """Unmeasured load on both request paths (Node's JIT and Python's caches start cold: the
    plugin's first seconds measured at twice its later CPU per request)."""
    if seconds <= 0:
        return
    character_with_instance(server, "vt_warm")
    http_load(server, "GET", "/instances/i/data/hp", GET_EXT, seconds=seconds)
    http_load(server, "POST", "/instances/i/data", "vt_warm", body=POST_BODY, seconds=seconds)


def make_root(root: Path) -> handsoff.Manifest:
    """A small SillyTavern data root for the second sidecar to watch; its manifest."""
    pool, rng = chat_text.text_pool(1, chars=1 << 17), random.Random(1)
    for i in range(20):
        n, character = rng.randint(20, 50), chatgen.CHARACTERS[i % len(chatgen.CHARACTERS)]
        spec = chatgen.ChatSpec(character, f"{character} - vt {i:02d}", n, n * 3000, "ordinary",
                                0.5, False, (90, 7, 2, 1))  # fmt: skip
        chatgen.write_chat(root, spec, 100_003 + i, pool)
    return handsoff.track(handsoff.Manifest(root))


def scenarios(args: argparse.Namespace, round_no: int) -> dict[str, Callable[[Server], Load]]:
    def get_one(server: Server) -> Load:
        return http_load(server, "GET", "/instances/i/data/hp", GET_EXT, seconds=args.seconds)

    def post_empty(server: Server) -> Load:
        ext = f"vt_empty_{round_no}"
        character_with_instance(server, ext)
        return post(server, ext)

    def post(server: Server, ext: str) -> Load:
        return http_load(
            server, "POST", "/instances/i/data", ext, body=POST_BODY, vary_key=True,
            seconds=args.seconds,
        )  # fmt: skip

    def many(server: Server) -> Load:
        request = request_bytes("GET", "/instances/i/data/hp", GET_EXT)
        load, refused = many_connections(server, request, args.connections, args.seconds)
        if refused:
            print(f"    {server.name}: {refused} connection(s) could not be opened", flush=True)
        return load

    return {
        "GET one key": get_one,
        "POST one key, empty db": post_empty,
        "POST one key, 5 MB db": lambda server: post(server, FULL_EXT),
        MANY.format(n=args.connections): many,
    }


def median_load(loads: list[Load]) -> Load:
    def mid(values: list[float]) -> float:
        return statistics.median(values)

    requests = round(mid([x.requests for x in loads]))
    cpu = mid([x.cpu_per_request_ms for x in loads]) * requests / 1000
    return Load(
        mid([x.rps for x in loads]),
        mid([x.p50 for x in loads]),
        mid([x.p99 for x in loads]),
        sum(x.errors for x in loads),
        requests,
        cpu,
    )


def report(rows: list[Row], servers: list[Server], args: argparse.Namespace) -> bool:
    plugin = servers[0].name
    by = {(r.scenario, r.server): r.load for r in rows}
    names = list(dict.fromkeys(r.scenario for r in rows))
    print(f"\n{args.seconds:g} s per run, {args.rounds} round(s) (median shown)\n")
    head = ("scenario", "server", "req/s", "p50 ms", "p99 ms", "errors", "CPU ms/req", "ratio")
    print("{:<30}{:<22}{:>8}{:>8}{:>8}{:>8}{:>11}{:>8}  target".format(*head))
    ok = True
    for name in names:
        base = by[name, plugin]
        for server in servers:
            load = by[name, server.name]
            line = (
                f"{name if server.name == plugin else '':<30}{server.name:<22}{load.rps:>8,.0f}"
                f"{load.p50:>8.1f}{load.p99:>8.1f}{load.errors:>8}{load.cpu_per_request_ms:>11.3f}"
            )
            if server.name == plugin:
                print(line)
                continue
            ratio = load.rps / base.rps if base.rps else float("inf")
            line += f"{ratio:>7.2f}x"
            if name in TARGETS:
                passed = ratio >= TARGETS[name]
                line += f"  >= {TARGETS[name]:g}x {'PASS' if passed else 'MISS'}"
            else:
                passed = load.rps >= 1000 and load.errors == 0
                line += f"  >= 1,000 req/s, 0 errors {'PASS' if passed else 'MISS'}"
            cpu_ok = load.cpu_per_request_ms <= base.cpu_per_request_ms
            line += f"; CPU/req <= plugin's {'PASS' if cpu_ok else 'MISS'}"
            ok = ok and passed and cpu_ok
            print(line)
    print(f"\n{BROKEN_GET}")
    return ok


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--seconds", type=float, default=5.0, help="seconds per run")
    parser.add_argument("--rounds", type=int, default=1, help="rounds (the median is shown)")
    parser.add_argument("--warmup", type=float, default=2.0, help="unmeasured seconds per path")
    parser.add_argument("--connections", type=int, default=500, help="for the last scenario")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="sidecar-vt-bench-"))
    servers: list[Server] = []
    manifest = None
    untouched, ok = False, False
    try:
        manifest = make_root(tmp / "st")
        servers.append(start_plugin(tmp / "plugin"))
        servers.append(start_sidecar(tmp / "api", "sidecar (API only)", None))
        servers.append(start_sidecar(tmp / "full", "sidecar + data root", tmp / "st"))
        for server in servers:
            prepare(server)
            warm_up(server, args.warmup)
        for server in servers:
            db = server.log.parent / "db" / f"{FULL_EXT}.db"
            size = sum(p.stat().st_size for p in db.parent.glob(f"{FULL_EXT}.db*"))
            print(f"{server.name}: {db.name} (with -wal/-shm) {size / 1e6:.1f} MB", flush=True)
        runs: dict[tuple[str, str], list[Load]] = {}
        for round_no in range(args.rounds):
            for name, run in scenarios(args, round_no).items():
                for server in servers:
                    load = run(server)
                    runs.setdefault((name, server.name), []).append(load)
                    print(f"  {name} / {server.name}: {load.rps:,.0f} req/s", flush=True)
        rows = [Row(name, server, median_load(loads)) for (name, server), loads in runs.items()]
        ok = report(rows, servers, args)
    finally:
        for server in servers:
            server.stop()
        if manifest is not None:
            untouched = handsoff.check(manifest)  # once every server has stopped
        shutil.rmtree(tmp, ignore_errors=True)
    if not untouched:
        sys.exit(1)
    print("\nall targets met" if ok else "\nsome targets missed (see MISS above)")


if __name__ == "__main__":
    main()
