"""Value-tracker writes through a real uvicorn server: small writes run on the event loop, and a
write that has to wait does so in a worker thread while reads go on. Real SQLite files."""

from __future__ import annotations

import json
import socket
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import anyio
import httpx
import pytest

from sidecar.config import Settings
from sidecar.storage.connections import CHECKPOINT_EVERY
from tests.conftest import PREFIX
from tests.live_server import live_server

EXTS = ("ext1", "ext2")


def settings_for(db_dir: Path, synchronous: str = "normal") -> Settings:
    return Settings.model_validate(
        {
            "storage": {
                "database_dir": str(db_dir),
                "synchronous": synchronous,
                "busy_timeout_ms": 60_000,
            },
            "sillytavern": {"data_root": None},
        }
    )


@pytest.fixture
def base_url(request: pytest.FixtureRequest, db_dir: Path) -> Iterator[str]:
    synchronous = getattr(request, "param", "normal")
    with live_server(settings_for(db_dir, synchronous)) as base:
        for ext in EXTS:
            with httpx.Client(base_url=base + PREFIX, headers={"x-extension-id": ext}) as client:
                assert client.post("/register", json={"extensionId": ext}).status_code == 200
                assert client.post("/characters", json={"id": "c", "name": ext}).status_code == 200
                created = client.post("/instances", json={"id": "i", "characterId": "c"})
                assert created.status_code == 200
        yield base + PREFIX


def test_concurrent_writes_to_two_extensions_each_keep_their_own(base_url: str) -> None:
    writes = CHECKPOINT_EVERY + 10  # past the point where one write is sent to a thread
    statuses: list[int] = []

    async def main() -> None:
        limits = httpx.Limits(max_connections=40)
        async with httpx.AsyncClient(base_url=base_url, limits=limits, timeout=60) as client:

            async def write(ext: str, n: int) -> None:
                body = {"key": f"k{n}", "value": {"ext": ext, "n": n}}
                headers = {"x-extension-id": ext}
                response = await client.post("/instances/i/data", json=body, headers=headers)
                statuses.append(response.status_code)
                if n % 7 == 0:  # an answered write is there for the next read
                    read = await client.get(f"/instances/i/data/k{n}", headers=headers)
                    assert read.json() == {f"k{n}": {"ext": ext, "n": n}}

            async with anyio.create_task_group() as group:
                for n in range(writes):
                    for ext in EXTS:
                        group.start_soon(write, ext, n)

    anyio.run(main)
    assert statuses == [200] * (2 * writes)
    for ext in EXTS:
        got = httpx.get(base_url + "/instances/i/data", headers={"x-extension-id": ext}).json()
        assert got == {f"k{n}": {"ext": ext, "n": n} for n in range(writes)}


def _raw_request(base_url: str, method: str, path: str, body: object) -> socket.socket:
    """Send a request on a socket of its own and return the socket (the answer is read later)."""
    url = urlsplit(base_url)
    payload = json.dumps(body).encode()
    head = (
        f"{method} {url.path}{path} HTTP/1.1\r\nhost: {url.netloc}\r\nx-extension-id: ext1\r\n"
        f"content-type: application/json\r\ncontent-length: {len(payload)}\r\n\r\n"
    )
    sock = socket.create_connection((url.hostname or "", url.port or 80), timeout=30)
    sock.sendall(head.encode() + payload)
    return sock


@pytest.mark.parametrize("base_url", ["normal", "full"], indirect=True)
def test_a_write_waiting_for_the_database_does_not_hold_up_reads(
    base_url: str, db_dir: Path
) -> None:
    other = sqlite3.connect(db_dir / "ext1.db", isolation_level=None)
    other.execute("BEGIN IMMEDIATE")  # another process holds the write lock
    pending = _raw_request(base_url, "POST", "/instances/i/data", {"key": "w", "value": 1})
    try:
        try:
            with httpx.Client(base_url=base_url, headers={"x-extension-id": "ext1"}) as client:
                for _ in range(20):  # the write was sent first: it is waiting by now
                    read = client.get("/instances/i", timeout=10)
                    assert read.status_code == 200
                    assert read.json()["data"] == {}
            pending.setblocking(False)
            with pytest.raises(BlockingIOError):
                pending.recv(1)  # no answer while the lock is held
        finally:
            other.execute("COMMIT")
            other.close()
        pending.setblocking(True)
        answer = pending.recv(65536)
    finally:
        pending.close()
    assert answer.startswith(b"HTTP/1.1 200 ")
    got = httpx.get(base_url + "/instances/i/data/w", headers={"x-extension-id": "ext1"})
    assert got.json() == {"w": 1}
