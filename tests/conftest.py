"""Shared fixtures: real SQLite files under tmp_path, real HTTP through Litestar's test client."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from _pytest.nodeid import coerce_node_id
from litestar.testing import TestClient

from sidecar.api.app import create_app
from sidecar.config import Settings
from tests import handsoff_guard
from tests.daemon_proc import Daemon
from tests.st_files import SOLO, header, message, st_save

PREFIX = "/api/plugins/valuetracker"
GUARD = handsoff_guard.install()
# Fixtures shared by several test modules, in their own modules.
pytest_plugins = [
    "tests.st_harness",  # the end-to-end ones: real SillyTavern, sidecar subprocess, Chromium
    "tests.old_valuetracker_db",  # a database the old Value Tracker plugin wrote
    "tests.st_discovery_tree",  # a SillyTavern data tree for discovery
    "tests.versions_history",  # a chat saved 200 times, indexed after every save
    "tests.common_fixtures",  # h (an index harness) and track (hands-off manifests)
    "tests.event_fixtures",  # log, hub and served: the change feed on a real catalog
]


def _hands_off(scope: str) -> Iterator[None]:
    """Snapshot every SillyTavern data root used in ``scope``; fail if sidecar changed one."""
    GUARD.push(scope)
    yield
    problems = GUARD.pop()
    if problems:
        pytest.fail("sidecar touched SillyTavern's files:\n" + "\n".join(problems), pytrace=False)


@pytest.fixture(autouse=True, scope="session")
def _hands_off_session() -> Iterator[None]:
    yield from _hands_off("session")


@pytest.fixture(autouse=True, scope="module")
def _hands_off_module() -> Iterator[None]:
    yield from _hands_off("module")


@pytest.fixture(autouse=True)
def _hands_off_test() -> Iterator[None]:
    yield from _hands_off("test")


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """schemathesis (4.x on pytest 9) gives every operation's test the same node id, and
    pytest-xdist tells items apart by node id: only one of them would run. Add the operation."""
    fuzzed = [item for item in items if isinstance(getattr(item, "operation_label", None), str)]
    for item in fuzzed:
        if not item.nodeid.endswith("]"):
            item._id = coerce_node_id(f"{item.nodeid}[{item.operation_label}]")  # type: ignore[attr-defined]
    if len({item.nodeid for item in fuzzed}) != len(fuzzed):
        raise pytest.UsageError("schemathesis test items still share node ids (see conftest.py)")


def make_settings(db_dir: Path, **api: Any) -> Settings:
    return Settings.model_validate(
        {"storage": {"database_dir": str(db_dir)}, "api": api, "sillytavern": {"data_root": None}}
    )


@pytest.fixture
def db_dir(tmp_path: Path) -> Path:
    return tmp_path / "databases"


@pytest.fixture
def settings(db_dir: Path) -> Settings:
    return make_settings(db_dir)


class Api:
    """A thin helper: paths relative to the prefix, ``x-extension-id`` set when ``ext`` is."""

    def __init__(self, client: TestClient[Any], ext: str | None = None) -> None:
        self.client = client
        self.ext = ext

    def _headers(self, headers: dict[str, str] | None) -> dict[str, str]:
        merged = {"x-extension-id": self.ext} if self.ext else {}
        merged.update(headers or {})
        return merged

    def request(self, method: str, path: str, **kwargs: Any) -> Any:
        kwargs["headers"] = self._headers(kwargs.get("headers"))
        return self.client.request(method, PREFIX + path, **kwargs)

    def get(self, path: str, **kwargs: Any) -> Any:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> Any:
        return self.request("POST", path, **kwargs)

    def put(self, path: str, **kwargs: Any) -> Any:
        return self.request("PUT", path, **kwargs)

    def delete(self, path: str, **kwargs: Any) -> Any:
        return self.request("DELETE", path, **kwargs)

    def for_ext(self, ext: str | None) -> Api:
        return Api(self.client, ext)


@pytest.fixture
def client_factory() -> Iterator[Callable[[Settings], TestClient[Any]]]:
    """Build (and always close) test clients, each running the app's lifespan."""
    opened: list[TestClient[Any]] = []

    def build(settings: Settings) -> TestClient[Any]:
        client = TestClient(create_app(settings))
        client.__enter__()
        opened.append(client)
        return client

    yield build
    for client in reversed(opened):
        client.__exit__(None, None, None)


@pytest.fixture
def client(
    settings: Settings, client_factory: Callable[[Settings], TestClient[Any]]
) -> TestClient[Any]:
    return client_factory(settings)


@pytest.fixture
def anon(client: TestClient[Any]) -> Api:
    """The API without an extension header."""
    return Api(client)


@pytest.fixture
def api(anon: Api) -> Api:
    """The API as extension ``ext1``, registered, with character ``c1`` and instance ``i1``."""
    assert anon.post("/register", json={"extensionId": "ext1"}).status_code == 200
    ext = anon.for_ext("ext1")
    assert ext.post("/characters", json={"id": "c1", "name": "Alice"}).status_code == 200
    assert ext.post("/instances", json={"id": "i1", "characterId": "c1"}).status_code == 200
    return ext


@pytest.fixture
def daemon(tmp_path: Path) -> Iterator[Daemon]:
    """A ``sidecar run`` subprocess (not started) on a data root with one chat."""
    root = tmp_path / "st"
    st_save(root / SOLO / "old.jsonl", [header(), message("hi", extra={"ext": {"n": 1}})])
    d = Daemon(tmp_path, root)
    yield d
    d.close()
