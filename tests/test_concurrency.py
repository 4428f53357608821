"""Concurrent requests through a real uvicorn server on 127.0.0.1, on real SQLite files."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import anyio
import httpx
import pytest

from sidecar.config import Settings
from tests.conftest import PREFIX
from tests.live_server import live_server

HEADERS = {"x-extension-id": "ext1"}


@pytest.fixture
def base_url(settings: Settings) -> Iterator[str]:
    with live_server(settings) as base:
        with httpx.Client(base_url=base + PREFIX, headers=HEADERS) as client:
            assert client.post("/register", json={"extensionId": "ext1"}).status_code == 200
            assert client.post("/characters", json={"id": "c1"}).status_code == 200
            assert (
                client.post("/instances", json={"id": "i1", "characterId": "c1"}).status_code == 200
            )
        yield base + PREFIX


def _client(base_url: str) -> httpx.AsyncClient:
    limits = httpx.Limits(max_connections=100, max_keepalive_connections=100)
    return httpx.AsyncClient(base_url=base_url, headers=HEADERS, limits=limits, timeout=30)


def test_100_concurrent_writes_of_different_keys_leave_100_keys(base_url: str) -> None:
    statuses: list[int] = []

    async def main() -> None:
        async with _client(base_url) as client:

            async def write(i: int) -> None:
                response = await client.post(
                    "/instances/i1/data", json={"key": f"key{i}", "value": {"n": i}}
                )
                statuses.append(response.status_code)

            async with anyio.create_task_group() as group:
                for i in range(100):
                    group.start_soon(write, i)

    anyio.run(main)
    assert statuses == [200] * 100
    data = httpx.get(base_url + "/instances/i1/data", headers=HEADERS).json()
    assert data == {f"key{i}": {"n": i} for i in range(100)}


BODY_A = {f"a{i}": "A" for i in range(50)}
BODY_B = {f"b{i}": "B" for i in range(50)}
MERGE = {f"m{i}": "M" for i in range(50)}


def test_concurrent_override_merge_and_reads_never_mix_bodies(base_url: str) -> None:
    seen: list[dict[str, Any]] = []

    async def main() -> None:
        async with _client(base_url) as client:

            async def override(body: dict[str, str]) -> None:
                response = await client.put("/instances/i1/data/override", json=body)
                assert response.status_code == 200

            async def merge() -> None:
                response = await client.put("/instances/i1/data/merge", json=MERGE)
                assert response.status_code == 200

            async def read() -> None:
                response = await client.get("/instances/i1/data")
                seen.append(response.json())

            for _ in range(10):
                async with anyio.create_task_group() as group:
                    for i in range(6):
                        group.start_soon(override, BODY_A if i % 2 else BODY_B)
                        group.start_soon(merge)
                        group.start_soon(read)
                final = (await client.get("/instances/i1/data")).json()
                seen.append(final)

    anyio.run(main)
    allowed = [BODY_A, BODY_B, BODY_A | MERGE, BODY_B | MERGE, MERGE, {}]
    for state in seen:
        assert state in allowed, sorted(state)[:5]
