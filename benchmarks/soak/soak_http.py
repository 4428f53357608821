"""A minimal HTTP/1.1 keep-alive client connection on asyncio streams, for the soak clients.

httpx's connection pool looks at every queued request each time it hands out a connection, so an
open-loop client that falls behind spends its CPU there and falls further behind. These
connections cost a few microseconds per request instead, so the clients measure the server.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

HOST = "127.0.0.1"


class HttpError(Exception):
    """The connection failed or the answer was not HTTP."""


class Connection:
    def __init__(self, port: int, timeout: float) -> None:
        self.port, self.timeout = port, timeout
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def request(
        self, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None
    ) -> tuple[int, bytes]:
        """(status, body). A kept-alive connection the server has closed meanwhile (its idle
        timeout) is reopened and the request sent again: the server never saw it."""
        payload = b"" if body is None else json.dumps(body, separators=(",", ":")).encode()
        head = f"{method} {path} HTTP/1.1\r\nhost: {HOST}\r\ncontent-length: {len(payload)}\r\n"
        if body is not None:
            head += "content-type: application/json\r\n"
        for name, value in (headers or {}).items():
            head += f"{name}: {value}\r\n"
        data = head.encode() + b"\r\n" + payload
        for attempt in (1, 2):
            reused = self.writer is not None
            try:
                if self.writer is None:
                    self.reader, self.writer = await asyncio.open_connection(HOST, self.port)
                self.writer.write(data)
                return await asyncio.wait_for(self._response(), self.timeout)
            except (asyncio.IncompleteReadError, ConnectionError) as exc:
                self.close()
                unanswered = not isinstance(exc, asyncio.IncompleteReadError) or not exc.partial
                if not (reused and attempt == 1 and unanswered):
                    raise HttpError(f"{type(exc).__name__}: {exc}") from None
            except (OSError, ValueError, TimeoutError) as exc:
                self.close()
                raise HttpError(f"{type(exc).__name__}: {exc}") from None
        raise AssertionError("unreachable")

    async def _response(self) -> tuple[int, bytes]:
        assert self.reader is not None
        head = (await self.reader.readuntil(b"\r\n\r\n")).decode("latin-1")
        status_line, *lines = head.split("\r\n")
        status = int(status_line.split(" ", 2)[1])
        fields = {
            name.strip().lower(): value.strip()
            for name, _, value in (line.partition(":") for line in lines if line)
        }
        if "content-length" in fields:
            body = await self.reader.readexactly(int(fields["content-length"]))
        elif fields.get("transfer-encoding", "").lower() == "chunked":
            body = await self._chunked()
        elif status in (204, 304):
            body = b""
        else:
            body = await self.reader.read()
            fields["connection"] = "close"
        if fields.get("connection", "").lower() == "close":
            self.close()
        return status, body

    async def _chunked(self) -> bytes:
        assert self.reader is not None
        parts = []
        while size := int((await self.reader.readuntil(b"\r\n")).split(b";")[0], 16):
            parts.append(await self.reader.readexactly(size + 2))
        await self.reader.readuntil(b"\r\n")
        return b"".join(part[:-2] for part in parts)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None
