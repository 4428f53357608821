"""The worker thread that drains the debounce: order, a failing process, a prompt stop."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from sidecar.watch import Change, Coalescer, WatchWorker

A, B, C = Path("/data/a.jsonl"), Path("/data/b.jsonl"), Path("/data/c.jsonl")


# -- the worker ------------------------------------------------------------------------------


class Recorder:
    """A ``process`` callable that records paths and lets tests wait for them."""

    def __init__(self, action: Callable[[Path], None] | None = None) -> None:
        self.paths: list[Path] = []
        self.changed = threading.Condition()
        self.action = action

    def __call__(self, change: Change) -> None:
        if self.action is not None:
            self.action(change.path)
        with self.changed:
            self.paths.append(change.path)
            self.changed.notify_all()

    def wait_for(self, predicate: Callable[[list[Path]], bool], timeout: float = 10) -> None:
        with self.changed:
            assert self.changed.wait_for(lambda: predicate(self.paths), timeout), self.paths


@pytest.fixture
def workers() -> Iterator[list[WatchWorker]]:
    started: list[WatchWorker] = []
    yield started
    for worker in started:
        assert worker.stop(timeout=5)


def test_worker_processes_submitted_paths_in_order(workers: list[WatchWorker]) -> None:
    recorder = Recorder()
    worker = WatchWorker(Coalescer(quiet=0.01, max_wait=1), recorder)
    workers.append(worker)
    assert not worker.alive
    worker.start()
    assert worker.alive
    for path in (B, A, C, B):
        worker.submit(path)
    recorder.wait_for(lambda paths: len(paths) == 3)
    assert recorder.paths == [B, A, C]
    assert worker.busy_since is None


def test_worker_survives_a_failing_process(
    workers: list[WatchWorker], caplog: pytest.LogCaptureFixture
) -> None:
    def fail_on_a(path: Path) -> None:
        if path == A:
            raise RuntimeError("boom")

    recorder = Recorder(fail_on_a)
    worker = WatchWorker(Coalescer(quiet=0.01, max_wait=1), recorder, name="test-worker")
    workers.append(worker)
    worker.start()
    with caplog.at_level(logging.ERROR, logger="sidecar.watch.worker"):
        worker.submit(A)
        worker.submit(B)
        recorder.wait_for(lambda paths: paths == [B])
    assert worker.alive
    assert (worker.processed, worker.failed) == (2, 1)
    [record] = caplog.records
    assert "test-worker" in record.getMessage()
    assert str(A) in record.getMessage()
    assert record.exc_info is not None
    assert "boom" in caplog.text


def test_worker_stop_is_prompt_and_reports_a_stuck_item() -> None:
    release = threading.Event()
    entered = threading.Event()

    def stuck(change: Change) -> None:
        entered.set()
        release.wait(10)

    coalescer = Coalescer(quiet=0, max_wait=0)
    worker = WatchWorker(coalescer, stuck)
    worker.start()
    worker.submit(A)
    assert entered.wait(10)
    assert worker.busy_since is not None
    assert worker.busy_since <= time.monotonic()
    worker.submit(B)
    assert not worker.stop(timeout=0.05)  # the current item is still running
    release.set()
    assert worker.stop(timeout=5)
    assert not worker.alive
    assert len(coalescer) == 1  # B stays queued for whoever comes next


def test_idle_worker_stops_at_once() -> None:
    worker = WatchWorker(Coalescer(), Recorder(), idle_wait=30)
    worker.start()
    started = time.monotonic()
    assert worker.stop(timeout=5)
    assert time.monotonic() - started < 5
    with pytest.raises(RuntimeError, match="already started"):
        worker.start()
