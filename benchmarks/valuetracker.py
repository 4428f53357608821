"""Load benchmark of sidecar's value-tracker API over real HTTP.

Starts ``python -m sidecar run`` on a free 127.0.0.1 port with a temporary database folder (and a
small SillyTavern data root it watches, 20 chats, checked unchanged at the end), fills
two extension databases through the API (one holding only what the scenarios need, one also holding
~5 MB of other characters' data), then drives each scenario against each database and prints
requests/s, p50/p99 latency, errors, and server/client CPU. Scenarios: GET one key, POST one key
(100 rotating keys), PUT merge of 10 keys, GET a FullCharacter with 20 instances.

Load comes from client processes separate from the server (multiprocessing), each running asyncio
streams with pre-encoded keep-alive HTTP/1.1 requests. By default one process holds all 8
connections: on a 2-core machine that measured the least client CPU per request (asyncio 1x8 about
80-100 us/request, 2x4 about 80-125, threads + http.client about 140-190), leaving the other core
to the server; one such process sustains ~15,000 req/s against /probe, far above the API's rates.

Run:  python benchmarks/valuetracker.py [--duration 5] [--connections 8] [--processes 1]

Targets: GET one key >= 2,000 req/s; POST one key >= 1,000 req/s; p99 <= 25 ms everywhere; writes
(POST one key, PUT merge) on the 5 MB database within 1.5x of the empty one (empty/full req/s).
The server and its temporary folder are removed at the end, also on errors or Ctrl-C.
"""

from __future__ import annotations

import argparse
import asyncio
import http.client
import json
import math
import multiprocessing as mp
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from multiprocessing.synchronize import Barrier
from pathlib import Path
from typing import Any

import chatgen

from tests import handsoff

HOST = "127.0.0.1"
PREFIX = "/api/plugins/valuetracker"
TICKS = os.sysconf("SC_CLK_TCK")


@dataclass
class ClientResult:
    latencies: list[float]
    statuses: Counter[int]
    samples: dict[int, str]  # one response body per non-2xx status (-1: connection error)
    elapsed: float
    cpu: float


@dataclass
class Row:
    scenario: str
    database: str
    rps: float
    p50: float
    p99: float
    errors: Counter[int]
    samples: dict[int, str]
    server_cpu: float  # share of one core
    client_us: float  # client CPU per request


@dataclass(frozen=True)
class Job:
    """What one client process does: ``conns`` connections, numbered from ``first``."""

    port: int
    requests: list[bytes]
    conns: int
    first: int
    warmup: float
    duration: float


def request_bytes(method: str, path: str, ext: str, body: Any = None) -> bytes:
    payload = b"" if body is None else json.dumps(body, separators=(",", ":")).encode()
    head = (
        f"{method} {PREFIX}{path} HTTP/1.1\r\nhost: {HOST}\r\nx-extension-id: {ext}\r\n"
        f"content-type: application/json\r\ncontent-length: {len(payload)}\r\n\r\n"
    )
    return head.encode() + payload


async def read_response(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    at = head.lower().find(b"\r\ncontent-length:")
    if at < 0:
        if status in (204, 304):
            return status, b""
        raise ValueError("response without content-length")
    length = int(head[at + 17 : head.index(b"\r\n", at + 2)])
    return status, await reader.readexactly(length)


async def drive(job: Job, conn_no: int, warm: float, result: ClientResult) -> None:
    """One keep-alive connection: send, wait for the answer, repeat for the job's duration."""
    reader, writer = await asyncio.open_connection(HOST, job.port)
    i, end = (job.first + conn_no) * 11, warm + job.duration  # connections start at other keys
    while (start := time.perf_counter()) < end:
        try:
            writer.write(job.requests[i % len(job.requests)])
            status, body = await read_response(reader)
        except (OSError, ValueError, asyncio.IncompleteReadError) as exc:
            status, body = -1, repr(exc).encode()
            writer.close()
            reader, writer = await asyncio.open_connection(HOST, job.port)
        i += 1
        if start >= warm:
            result.latencies.append(time.perf_counter() - start)
            result.statuses[status] += 1
            if not 200 <= status < 300:
                result.samples.setdefault(status, body[:200].decode(errors="replace"))
    writer.close()


def client_process(job: Job, barrier: Barrier, out: mp.Queue[ClientResult]) -> None:
    async def main() -> ClientResult:
        result = ClientResult([], Counter(), {}, job.duration, 0.0)
        _, probe = await asyncio.open_connection(HOST, job.port)  # fail early if unreachable
        probe.close()
        barrier.wait(timeout=60)
        warm = time.perf_counter() + job.warmup
        cpu = time.process_time()
        await asyncio.gather(*(drive(job, c, warm, result) for c in range(job.conns)))
        result.cpu = time.process_time() - cpu
        return result

    out.put(asyncio.run(main()))


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS  # utime + stime


def run_load(
    args: argparse.Namespace, server_pid: int, name: str, db: str, reqs: list[bytes]
) -> Row:
    """One measured run: start the client processes together, merge what they recorded."""
    procs = min(args.processes, args.connections)
    shares = [args.connections // procs + (i < args.connections % procs) for i in range(procs)]
    barrier = mp.Barrier(procs + 1)
    out: mp.Queue[ClientResult] = mp.Queue()
    jobs = [
        Job(args.port, reqs, n, sum(shares[:i]), args.warmup, args.duration)
        for i, n in enumerate(shares)
    ]
    workers = [mp.Process(target=client_process, args=(job, barrier, out)) for job in jobs]
    for worker in workers:
        worker.start()
    try:
        barrier.wait(timeout=60)
        time.sleep(args.warmup)
        cpu_before, wall_before = cpu_seconds(server_pid), time.perf_counter()
        results = [out.get(timeout=args.warmup + args.duration + 60) for _ in workers]
        server_cpu = (cpu_seconds(server_pid) - cpu_before) / (time.perf_counter() - wall_before)
    finally:
        for worker in workers:
            worker.join(timeout=10)
            if worker.is_alive():
                worker.kill()
    latencies = sorted(x for r in results for x in r.latencies)
    statuses = sum((r.statuses for r in results), Counter[int]())
    n = len(latencies)

    def pct(q: float) -> float:
        return latencies[min(n - 1, math.ceil(q * n) - 1)] * 1000 if n else math.nan

    errors = Counter({s: k for s, k in statuses.items() if not 200 <= s < 300})
    samples = {s: t for r in results for s, t in r.samples.items()}
    rps = sum(len(r.latencies) / r.elapsed for r in results)
    client_us = sum(r.cpu for r in results) / max(1, n) * 1e6
    return Row(name, db, rps, pct(0.5), pct(0.99), errors, samples, server_cpu, client_us)


class Api:
    """A keep-alive connection for setting up data; raises on any non-2xx answer."""

    def __init__(self, port: int) -> None:
        self.conn = http.client.HTTPConnection(HOST, port, timeout=30)

    def call(self, method: str, path: str, body: Any = None, ext: str = "") -> Any:
        headers = {"content-type": "application/json", "x-extension-id": ext}
        self.conn.request(
            method, PREFIX + path, json.dumps(body) if body is not None else None, headers
        )
        resp = self.conn.getresponse()
        data = resp.read()
        if not 200 <= resp.status < 300:
            raise RuntimeError(f"{method} {path} -> {resp.status}: {data[:300]!r}")
        return json.loads(data) if data else None


def populate(api: Api, ext: str, filler: bool) -> None:
    """The scenarios' rows (character ``bench`` with 20 small instances, write target ``w0``),
    plus, with ``filler``, 50 characters x 20 instances x 3 values of ~1-2 KB (~5 MB)."""
    api.call("POST", "/register", {"extensionId": ext})
    api.call("POST", "/characters", {"id": "bench", "name": "Bench"}, ext)
    api.call("POST", "/characters", {"id": "writer", "name": "Writer"}, ext)
    api.call("POST", "/instances", {"id": "w0", "characterId": "writer", "name": None}, ext)
    for i in range(20):
        api.call(
            "POST", "/instances", {"id": f"b{i:02}", "characterId": "bench", "name": None}, ext
        )
        small = {"hp": 100 - i, "mood": "calm", "flags": {"met": True, "day": i}}
        api.call("PUT", f"/instances/b{i:02}/data/override", small, ext)
    if not filler:
        return
    rng = random.Random(42)

    def text() -> str:
        return rng.randbytes(rng.randint(450, 1000)).hex()  # 0.9-2 KB

    for c in range(50):
        api.call("POST", "/characters", {"id": f"c{c:02}", "name": f"Character {c}"}, ext)
        for i in range(20):
            iid = f"c{c:02}-i{i:02}"
            api.call("POST", "/instances", {"id": iid, "characterId": f"c{c:02}", "name": iid}, ext)
            data = {
                "notes": text(),
                "state": {"summary": text(), "turn": i, "tags": ["a", "b"]},
                "log": [text()],
            }
            api.call("PUT", f"/instances/{iid}/data/override", data, ext)


def scenarios(ext: str) -> dict[str, list[bytes]]:
    posts = [{"key": f"k{n:03}", "value": {"n": n, "text": "x" * 100}} for n in range(100)]
    merges = [
        {f"m{j * 10 + k:03}": {"j": j, "k": k, "v": "y" * 50} for k in range(10)} for j in range(10)
    ]
    return {
        "GET one key": [request_bytes("GET", "/instances/b00/data/hp", ext)],
        "POST one key": [request_bytes("POST", "/instances/w0/data", ext, b) for b in posts],
        "PUT merge 10 keys": [
            request_bytes("PUT", "/instances/w0/data/merge", ext, b) for b in merges
        ],
        "GET FullCharacter (20 inst)": [request_bytes("GET", "/characters/bench", ext)],
    }


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def make_root(root: Path) -> handsoff.Manifest:
    """A small data root for the daemon to watch while it serves the load (as it would beside
    SillyTavern); its manifest, which sidecar must leave as it is."""
    pool, rng = chatgen._pool(1, chars=1 << 17), random.Random(1)
    for i in range(20):
        n, character = rng.randint(20, 50), chatgen.CHARACTERS[i % len(chatgen.CHARACTERS)]
        spec = chatgen.ChatSpec(character, f"{character} - vt {i:02d}", n, n * 3000, "ordinary",
                                0.5, False, (90, 7, 2, 1))  # fmt: skip
        chatgen.write_chat(root, spec, 100_003 + i, pool)
    return handsoff.track(handsoff.Manifest(root))


def reconciled(port: int) -> bool:
    conn = http.client.HTTPConnection(HOST, port, timeout=2)
    try:
        conn.request("GET", PREFIX + "/status")
        return json.loads(conn.getresponse().read()).get("reconciling") is False
    finally:
        conn.close()


def start_server(port: int, db_dir: Path, log: Path, root: Path) -> subprocess.Popen[bytes]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("SIDECAR_") and k != "SILLYTAVERN_DATAROOT"
    }
    cmd = [sys.executable, "-m", "sidecar", "run", "--host", HOST, "--port", str(port)]
    cmd += ["--db-dir", str(db_dir), "--data-root", str(root), "--log-level", "warning"]
    with log.open("wb") as sink:
        server = subprocess.Popen(
            cmd, stdout=sink, stderr=subprocess.STDOUT, env=env, cwd=db_dir.parent
        )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"server exited with {server.returncode}:\n{log.read_text()}")
        conn = http.client.HTTPConnection(HOST, port, timeout=2)
        try:
            conn.request("GET", PREFIX + "/probe")
            if conn.getresponse().status == 204 and reconciled(port):
                return server
        except OSError:
            pass
        finally:
            conn.close()
        time.sleep(0.05)
    server.kill()
    raise RuntimeError(f"server did not answer /probe within 30 s:\n{log.read_text()}")


def report(rows: list[Row], sizes: dict[str, int], args: argparse.Namespace) -> None:
    print(
        f"\n{args.connections} keep-alive connections from {min(args.processes, args.connections)}"
        f" client process(es); {args.duration:g} s per run after {args.warmup:g} s warm-up;"
        f" {os.cpu_count()} CPUs\nsrv CPU: server process CPU as a share of one core;"
        " cli us/req: client CPU per request"
    )
    for name, size in sizes.items():
        print(f"  {name}: {size / 1e6:.2f} MB on disk")  # -wal: changes not yet checkpointed
    head = ("scenario", "database", "req/s", "p50 ms", "p99 ms", "errors", "srv CPU", "cli us/req")
    print("\n{:<28}{:<10}{:>9}{:>9}{:>9}{:>8}{:>9}{:>12}".format(*head))
    for r in rows:
        print(
            f"{r.scenario:<28}{r.database:<10}{r.rps:>9.0f}{r.p50:>9.2f}{r.p99:>9.2f}"
            f"{sum(r.errors.values()):>8}{r.server_cpu:>9.0%}{r.client_us:>12.0f}"
        )
    for r in rows:
        for status, n in r.errors.items():
            print(
                f"  ERRORS {r.scenario} / {r.database}: {n} x status {status}: "
                f"{r.samples.get(status, '')}"
            )
    by = {(r.scenario, r.database): r for r in rows}

    def mark(ok: bool) -> str:
        return "PASS" if ok else "MISS"

    print("\ntargets")
    for scenario, floor in (("GET one key", 2000), ("POST one key", 1000)):
        for db in ("empty", "5 MB"):
            rps = by[scenario, db].rps
            print(f"  {mark(rps >= floor)}  {scenario} ({db}) >= {floor:,} req/s: {rps:,.0f}")
    worst = max(rows, key=lambda r: r.p99)
    print(
        f"  {mark(worst.p99 <= 25)}  p99 <= 25 ms everywhere: worst {worst.p99:.2f} ms "
        f"({worst.scenario}, {worst.database})"
    )
    for scenario in ("POST one key", "PUT merge 10 keys"):
        ratio = by[scenario, "empty"].rps / by[scenario, "5 MB"].rps
        print(f"  {mark(ratio <= 1.5)}  {scenario}: empty/5 MB req/s = {ratio:.2f} (<= 1.5)")
    print(
        "\nbaseline: the old plugin rewrote the whole database file on every write, so its write "
        "cost grew\nwith the database size; an empty/5 MB ratio near 1.0 shows sidecar's writes "
        "do not."
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--duration", type=float, default=5.0, help="seconds measured per run")
    parser.add_argument("--warmup", type=float, default=0.5, help="unmeasured seconds per run")
    parser.add_argument("--connections", type=int, default=8, help="keep-alive connections")
    parser.add_argument("--processes", type=int, default=1, help="client processes (1 is cheapest)")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="sidecar-bench-"))
    server: subprocess.Popen[bytes] | None = None
    untouched = False
    try:
        manifest = make_root(tmp / "data")
        args.port = free_port()
        server = start_server(args.port, tmp / "db", tmp / "server.log", tmp / "data")
        api = Api(args.port)
        exts = {"empty": "bench_empty", "5 MB": "bench_full"}
        started = time.perf_counter()
        for db, ext in exts.items():
            populate(api, ext, filler=db == "5 MB")
        api.conn.close()
        print(f"populated in {time.perf_counter() - started:.1f} s", flush=True)
        files = [tmp / "db" / f"{ext}.db{end}" for ext in exts.values() for end in ("", "-wal")]
        sizes = {f.name: f.stat().st_size if f.exists() else 0 for f in files}
        rows = []
        for scenario in scenarios("-"):
            for db, ext in exts.items():
                rows.append(run_load(args, server.pid, scenario, db, scenarios(ext)[scenario]))
                print(f"  {scenario} / {db}: {rows[-1].rps:,.0f} req/s", flush=True)
        report(rows, sizes, args)
        if log := (tmp / "server.log").read_text().strip():
            print(f"\nserver log:\n{log[-3000:]}")
    finally:
        if server is not None and server.poll() is None:
            server.send_signal(signal.SIGTERM)
            try:
                server.wait(timeout=15)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()
            print(f"server stopped with exit code {server.returncode}")
            untouched = handsoff.check(manifest)  # once the server has stopped
        shutil.rmtree(tmp, ignore_errors=True)
    if not untouched:
        sys.exit(1)


if __name__ == "__main__":
    main()
