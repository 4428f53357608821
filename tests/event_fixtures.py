"""Fixtures of the change-feed tests (registered in ``tests/conftest.py``): ``log``, a real
catalog's event log in ``tmp_path``; ``hub``, the API's hub over it; ``served``, ``GET /events``
on a real uvicorn server in front of that hub."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from sidecar.events import EventHub
from tests.event_log_helpers import Log
from tests.events_server import Served, serve


@pytest.fixture
def log(tmp_path: Path) -> Iterator[Log]:
    opened = Log(tmp_path / "db")
    yield opened
    opened.close()


@pytest.fixture
def hub(log: Log) -> EventHub:
    return log.hub()


@pytest.fixture
def served(hub: EventHub) -> Iterator[Served]:
    with serve(hub) as running:
        yield running
