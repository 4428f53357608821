"""Load for ``valuetracker.py``: the shared ``http_load.py`` client (the one the issue's figures
were measured with), and an asyncio client for many concurrent connections (``http_load.py`` gives
each connection an OS thread: 500 of them on two cores would measure the client).

Both report requests/s, p50/p99 and errors, and the server's CPU seconds over the run (process
tree, from ``/proc``), so CPU per request = CPU seconds / requests answered.
"""

from __future__ import annotations

import asyncio
import json
import math
import multiprocessing as mp
import re
import subprocess
import sys
import time
from dataclasses import dataclass
from multiprocessing.synchronize import Barrier
from typing import Any

from vt_servers import HOST, HTTP_LOAD, PREFIX, Server

_FIGURES = re.compile(r"req/s=(\d+)(?: p50_ms=([\d.]+) p99_ms=([\d.]+))? errors=(\d+)")


@dataclass(frozen=True)
class Load:
    rps: float
    p50: float  # ms
    p99: float  # ms
    errors: int
    requests: int  # answered (any status)
    cpu: float  # server CPU seconds over the run

    @property
    def cpu_per_request_ms(self) -> float:
        return self.cpu / self.requests * 1000 if self.requests else math.nan


def http_load(
    server: Server,
    method: str,
    path: str,
    ext: str,
    *,
    body: Any = None,
    vary_key: bool = False,
    seconds: float = 5.0,
    procs: int = 2,
    threads: int = 4,
) -> Load:
    """One run of ``../shared/tools/http_load.py`` against ``server``."""
    cmd = [sys.executable, str(HTTP_LOAD), HOST, str(server.port), method, PREFIX + path]
    cmd += ["--header", f"x-extension-id:{ext}", "--seconds", str(seconds)]
    cmd += ["--procs", str(procs), "--threads", str(threads)]
    if body is not None:
        cmd += ["--body", json.dumps(body)]
    if vary_key:
        cmd.append("--vary-key")
    before = server.cpu()
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 120, check=False)
    cpu = server.cpu() - before
    found = _FIGURES.search(done.stdout)
    if found is None:
        raise RuntimeError(f"http_load.py printed no figures: {done.stdout} {done.stderr}")
    rps, p50, p99, errors = found.groups()
    return Load(
        float(rps),
        float(p50 or "nan"),
        float(p99 or "nan"),
        int(errors),
        round(float(rps) * seconds),
        cpu,
    )


# -- many connections --------------------------------------------------------------------------


@dataclass(frozen=True)
class _Job:
    port: int
    request: bytes
    conns: int
    seconds: float


def request_bytes(method: str, path: str, ext: str, body: Any = None) -> bytes:
    payload = b"" if body is None else json.dumps(body, separators=(",", ":")).encode()
    head = (
        f"{method} {PREFIX}{path} HTTP/1.1\r\nhost: {HOST}\r\nx-extension-id: {ext}\r\n"
        f"content-type: application/json\r\ncontent-length: {len(payload)}\r\n\r\n"
    )
    return head.encode() + payload


async def _response(reader: asyncio.StreamReader) -> int:
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    lower = head.lower()
    at = lower.find(b"\r\ncontent-length:")
    if at >= 0:
        await reader.readexactly(int(lower[at + 17 : lower.index(b"\r\n", at + 2)]))
    elif b"transfer-encoding: chunked" in lower:
        while size := int((await reader.readuntil(b"\r\n")).strip(), 16):
            await reader.readexactly(size + 2)
        await reader.readuntil(b"\r\n")
    return status


async def _connection(
    job: _Job, opened: asyncio.StreamReader | None, writer: Any, end: float, out: dict[str, Any]
) -> None:
    """One keep-alive connection sending ``job.request`` until ``end``; a failed request counts
    as an error and the connection is opened again."""
    reader = opened
    while (start := time.perf_counter()) < end:
        try:
            if reader is None:
                reader, writer = await asyncio.open_connection(HOST, job.port)
            writer.write(job.request)
            status = await _response(reader)
        except (OSError, ValueError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            out["errors"] += 1
            if writer is not None:
                writer.close()
            reader = writer = None
            continue
        out["latencies"].append(time.perf_counter() - start)
        if not 200 <= status < 300:
            out["errors"] += 1
    if writer is not None:
        writer.close()


def _client(job: _Job, barrier: Barrier, queue: mp.Queue[dict[str, Any]]) -> None:
    async def main() -> dict[str, Any]:
        out: dict[str, Any] = {"latencies": [], "errors": 0, "connect_errors": 0}
        opened: list[tuple[Any, Any]] = []
        for _ in range(job.conns):  # every connection is open before the clock starts
            try:
                opened.append(await asyncio.open_connection(HOST, job.port))
            except OSError:
                out["connect_errors"] += 1
                opened.append((None, None))
        barrier.wait(timeout=120)
        end = time.perf_counter() + job.seconds
        await asyncio.gather(*(_connection(job, r, w, end, out) for r, w in opened))
        return out

    queue.put(asyncio.run(main()))


def many_connections(
    server: Server, request: bytes, conns: int, seconds: float, processes: int = 2
) -> tuple[Load, int]:
    """``conns`` keep-alive connections, all open at once, split over client processes; the
    load and the connections that could not be opened."""
    shares = [conns // processes + (i < conns % processes) for i in range(processes)]
    barrier = mp.Barrier(processes + 1)
    queue: mp.Queue[dict[str, Any]] = mp.Queue()
    clients = [
        mp.Process(target=_client, args=(_Job(server.port, request, n, seconds), barrier, queue))
        for n in shares
    ]
    for client in clients:
        client.start()
    try:
        barrier.wait(timeout=120)
        before = server.cpu()
        results = [queue.get(timeout=seconds + 120) for _ in clients]
        cpu = server.cpu() - before
    finally:
        for client in clients:
            client.join(timeout=10)
            if client.is_alive():
                client.kill()
    latencies = sorted(x for r in results for x in r["latencies"])
    n = len(latencies)

    def pct(q: float) -> float:
        return latencies[min(n - 1, math.ceil(q * n) - 1)] * 1000 if n else math.nan

    errors = sum(r["errors"] for r in results)
    refused = sum(r["connect_errors"] for r in results)
    return Load(n / seconds, pct(0.5), pct(0.99), errors + refused, n, cpu), refused
