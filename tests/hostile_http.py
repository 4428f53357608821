"""Helpers for the hostile-request tests: a live sidecar with data and indexed chats, raw HTTP to
it (request targets go on the wire as written: no client-side normalization of ``..`` or
``//``), the one error shape, and a snapshot of everything on disk (the file listing and every
row of every database)."""

from __future__ import annotations

import http.client
import json
import os
import socket
import sqlite3
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from sidecar.api.app import create_app
from sidecar.config import Settings
from tests.conftest import make_settings
from tests.index_harness import Harness
from tests.live_server import live_server
from tests.st_files import header, message, st_save, swiped

PREFIX = "/api/plugins/valuetracker"
CHAT_A = "default-user/chats/Seraphina/a.jsonl"
CHAT_B = "bob/group chats/g.jsonl"
LIMIT = 655_360  # the body limit: room for a 100,000-deep object, small enough to exceed cheaply
TOKEN = "t0ken"
EXT = "hostile"
JSON = {"content-type": "application/json"}
AS_EXT = {"x-extension-id": EXT}


def openapi_document() -> dict[str, Any]:
    """The schema the app serves (building the app touches no file)."""
    with tempfile.TemporaryDirectory() as unused:
        app = create_app(make_settings(Path(unused)))
        document: dict[str, Any] = app.openapi_schema.to_schema()
    return document


def index_chats(root: Path, db_dir: Path) -> tuple[str, str]:
    """Index two chats (a solo chat with swipes and chat-level data, a group chat), the first
    saved twice so it has two versions and history; their chatIds."""
    h = Harness(root, db_dir)
    try:
        first = [
            header(arm={"chapter": 1}),
            message("hello there", name="User", is_user=True),
            swiped(["x", "y"], 1, [{"arm": {"score": 1}}, {"arm": {"score": 2.5, "tag": "t"}}]),
            message("m2", extra={"qvink_memory": {"memory": "They met."}, "arm": {"score": 3}}),
        ]
        st_save(root / CHAT_A, first)
        st_save(root / CHAT_B, [header(), message("b0", extra={"arm": {"score": 10}})])
        h.scan()
        st_save(root / CHAT_A, [*first[:3], message("m2 edited", extra={"arm": {"score": 4}})])
        h.scan()
        return h.chat_id(CHAT_A), h.chat_id(CHAT_B)
    finally:
        h.close()


def assert_error_body(status: int, content_type: str, body: bytes, method: str = "GET") -> None:
    """An error answer (4xx/5xx) is JSON and exactly ``{"error": <string>}``."""
    if status < 400 or method == "HEAD":
        return
    assert content_type.startswith("application/json"), (status, content_type, body[:200])
    document = json.loads(body)
    assert isinstance(document, dict), document
    assert list(document) == ["error"], document
    assert isinstance(document["error"], str), document


def all_files(root: Path) -> set[Path]:
    return {Path(folder) / name for folder, _, names in os.walk(root) for name in names}


def database_rows(db_dir: Path) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table of every ``*.db`` under ``db_dir``, read-only."""
    rows: dict[str, list[tuple[Any, ...]]] = {}
    for path in sorted(db_dir.rglob("*.db")):
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            tables = conn.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND sql IS NOT NULL "
                "AND name NOT LIKE 'sqlite_%'"
            ).fetchall()
            for (table,) in tables:
                found = conn.execute(f'SELECT * FROM "{table}"').fetchall()
                rows[f"{path.name}:{table}"] = sorted(found, key=repr)
        finally:
            conn.close()
    return rows


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes
    method: str

    def json(self) -> Any:
        return json.loads(self.body)

    def error(self, *statuses: int) -> str:
        """Assert an error answer with one of ``statuses`` in the one shape; its message."""
        assert self.status in statuses, (self.status, self.body[:300])
        assert_error_body(self.status, self.headers.get("content-type", ""), self.body, self.method)
        message: str = self.json()["error"]
        return message


def _answer(response: http.client.HTTPResponse, method: str) -> Answer:
    headers = {name.lower(): value for name, value in response.getheaders()}
    return Answer(response.status, headers, response.read(), method)


@dataclass
class Server:
    """A live sidecar: ``send`` puts ``prefix + target`` on the wire as written."""

    port: int

    def send(
        self,
        method: str,
        target: str,
        body: bytes | Iterable[bytes] | None = None,
        headers: dict[str, str] | None = None,
        *,
        token: str | None = TOKEN,
        prefix: str = PREFIX,
        timeout: float = 10,
    ) -> Answer:
        """``token=None`` sends no ``Authorization`` header; an iterable body goes chunked."""
        sent = {} if token is None else {"authorization": f"Bearer {token}"}
        sent.update(headers or {})
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            chunked = body is not None and not isinstance(body, bytes)
            conn.request(method, prefix + target, body=body, headers=sent, encode_chunked=chunked)
            return _answer(conn.getresponse(), method)
        finally:
            conn.close()

    def send_raw(self, head: bytes, body: bytes = b"", timeout: float = 10) -> Answer:
        """Write ``head`` (request line and headers, without the blank line) and ``body``; the
        server may answer before it has read all it was promised."""
        with socket.create_connection(("127.0.0.1", self.port), timeout=timeout) as sock:
            sock.sendall(head + b"\r\n\r\n" + body)
            response = http.client.HTTPResponse(sock, method="POST")
            response.begin()
            return _answer(response, "POST")

    def json(self, method: str, target: str, document: Any, **options: Any) -> Answer:
        headers = {**JSON, **options.pop("headers", {})}
        return self.send(method, target, json.dumps(document).encode(), headers, **options)


@dataclass
class Site:
    server: Server
    root: Path
    db_dir: Path
    chat: str  # the solo chat (two versions); other_chat is a group chat
    other_chat: str

    def snapshot(self) -> tuple[set[Path], dict[str, list[tuple[Any, ...]]]]:
        files = {p for p in all_files(self.root) if not p.name.endswith(("-wal", "-shm"))}
        return files, database_rows(self.db_dir)


@contextmanager
def hostile_site(root: Path) -> Iterator[Site]:
    """sidecar on 127.0.0.1 with a token and a ``LIMIT`` body limit; extension ``EXT`` with
    characters c1, c2, instance i1 (keys k1, n) and two indexed chats."""
    db_dir = root / "db"
    chats = index_chats(root / "st", db_dir)
    settings = Settings.model_validate(
        {
            "storage": {"database_dir": str(db_dir)},
            "api": {"token": TOKEN, "max_body_bytes": LIMIT},
            "sillytavern": {"data_root": None},
        }
    )
    with live_server(settings) as base:
        server = Server(urlsplit(base).port or 0)
        seed(server)
        yield Site(server, root, db_dir, *chats)


def seed(server: Server) -> None:
    """(Re)create extension ``EXT`` with characters c1, c2 and instance i1 holding k1 and n."""
    assert server.json("POST", "/register", {"extensionId": EXT}).status == 200
    for character in ("c1", "c2"):
        body = {"id": character}
        assert server.json("POST", "/characters", body, headers=AS_EXT).status == 200
    body = {"id": "i1", "characterId": "c1"}
    assert server.json("POST", "/instances", body, headers=AS_EXT).status == 200
    data = {"k1": "10", "n": 1}
    assert server.json("PUT", "/instances/i1/data/override", data, headers=AS_EXT).status == 200


def site_fixtures() -> tuple[Any, Any]:
    """The ``site`` (one server per test module) and ``unchanged`` (the test's requests leave
    every file and every database row as they were) fixtures, for ``site, unchanged = ...``."""

    @pytest.fixture(scope="module")
    def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
        with hostile_site(tmp_path_factory.mktemp("hostile")) as running:
            yield running

    @pytest.fixture
    def unchanged(site: Site) -> Iterator[Site]:
        before = site.snapshot()
        yield site
        assert site.snapshot() == before

    return site, unchanged
