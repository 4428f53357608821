"""Hostile chat files that change under the reader: vanishing, changed in place, swapped for a
FIFO, or failing unexpectedly; the pass goes on and nothing is lost."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import msgspec
import pytest

from sidecar.indexer import indexer as indexer_module
from sidecar.indexer.update import ChatUpdate
from sidecar.indexer.update_state import IndexResult
from sidecar.sillytavern.chatfile import ChatFile
from tests import handsoff
from tests.hostile_checks import (
    HANG,
    Injected,
    append_line,
    indexed_messages,
    rewrite,
    rewrite_keeping_time,
    store_is_consistent,
    within,
)
from tests.hostile_parts import HEADER, HOSTILE_DIR, good, joined
from tests.index_harness import Harness
from tests.st_files import st_save

pytestmark = pytest.mark.filterwarnings(
    "ignore:Callback with id .* already exists for watch:RuntimeWarning"
)


# -- files that change under the reader -------------------------------------------------------


@pytest.fixture
def inject(monkeypatch: pytest.MonkeyPatch) -> type[Injected]:
    monkeypatch.setattr(indexer_module, "ChatFile", Injected)
    monkeypatch.setattr(Injected, "before_open", None)
    monkeypatch.setattr(Injected, "after_scan", None)
    monkeypatch.setattr(Injected, "times", 1)
    return Injected


CHAT = f"{HOSTILE_DIR}/racy.jsonl"
FIRST = joined(HEADER, good(1), good(2))
SECOND = joined(HEADER, good(1), good(2), good(3))


def texts(h: Harness, rel: str = CHAT) -> list[str | None]:
    return [text for text, _ in indexed_messages(h, h.chat_id(rel))]


def test_file_vanishing_between_stat_and_open(h: Harness, inject: type[Injected]) -> None:
    path = h.root / CHAT
    st_save(path, FIRST)
    assert h.index(path).status == "new"
    st_save(path, SECOND)
    inject.before_open = lambda p: p.unlink()
    result = within(HANG, lambda: h.index(path))
    assert result.status == "missing"
    assert h.catalog_rows("SELECT state, message_count FROM chats") == [("missing", 2)]
    # A brand-new chat that vanishes the same way is simply not there.
    new = h.root / HOSTILE_DIR / "brand-new.jsonl"
    st_save(new, FIRST)
    inject.before_open, inject.times = (lambda p: p.unlink()), 1
    assert within(HANG, lambda: h.index(new)).status == "skipped"
    assert h.catalog_rows("SELECT count(*) FROM chats") == [(1,)]


def test_file_vanishing_while_it_is_read(h: Harness, inject: type[Injected]) -> None:
    path = h.root / CHAT
    st_save(path, FIRST)
    h.index(path)
    st_save(path, SECOND)
    inject.after_scan = lambda p: p.unlink()  # the open descriptor still reads that version
    result = within(HANG, lambda: h.index(path))
    assert (result.status, result.messages) == ("updated", 3)
    store_is_consistent(h)
    assert within(HANG, lambda: h.index(path)).status == "missing"


@pytest.mark.parametrize(
    ("change", "final"),
    [
        (rewrite(SECOND.replace(b"good 3", b"GOOD 3")), SECOND.replace(b"good 3", b"GOOD 3")),
        (rewrite(FIRST), FIRST),
        (append_line, SECOND + b"\n" + good(4)),
        (
            rewrite_keeping_time(SECOND.replace(b"good 3", b"Good 3")),
            SECOND.replace(b"good 3", b"Good 3"),
        ),
    ],
    ids=["rewritten_same_size", "rewritten_shorter", "grows", "rewritten_keeping_size_and_time"],
)
def test_file_changed_in_place_while_it_is_read(
    h: Harness, inject: type[Injected], change: Callable[[Path], None], final: bytes
) -> None:
    path = h.root / CHAT
    st_save(path, FIRST)
    h.index(path)
    st_save(path, SECOND)
    inject.after_scan = change  # between the scan (hashes) and the walk (parsing)
    result = within(HANG, lambda: h.index(path))
    assert path.read_bytes() == final
    assert result.status == "updated"
    assert texts(h) == [msgspec.json.decode(line)["mes"] for line in final.split(b"\n")[1:]]
    with ChatFile(path) as file:
        scan = file.scan()
    assert h.catalog_rows("SELECT file_hash, size, sync FROM chats") == [
        (scan.file_hash, len(final), "ok")
    ]
    store_is_consistent(h)


def test_file_that_keeps_changing_is_skipped_then_indexed(
    h: Harness, inject: type[Injected]
) -> None:
    path = h.root / CHAT
    st_save(path, FIRST)
    h.index(path)
    st_save(path, SECOND)
    counter = iter(range(100))

    def another_version(p: Path) -> None:
        rewrite(SECOND.replace(b"good 3", b"v%02d 3" % next(counter)))(p)

    inject.after_scan = another_version
    inject.times = 100
    result = within(HANG, lambda: h.index(path))
    assert result.status == "skipped"
    assert "changed each time it was read" in result.problems[0][1]
    assert texts(h) == ["good 1", "good 2"]  # what was indexed before is intact
    inject.after_scan = None
    assert within(HANG, lambda: h.index(path)).status == "updated"
    assert texts(h)[-1] == msgspec.json.decode(path.read_bytes().split(b"\n")[-1])["mes"]
    assert h.catalog_rows("SELECT sync FROM chats") == [("ok",)]
    store_is_consistent(h)


def test_fifo_swapped_in_before_open_does_not_block(h: Harness, inject: type[Injected]) -> None:
    path = h.root / CHAT
    st_save(path, FIRST)

    def to_fifo(p: Path) -> None:
        p.unlink()
        os.mkfifo(p)
        handsoff.wrote(p)

    inject.before_open = to_fifo  # after the indexer's stat said "a regular file"
    result = within(10, lambda: h.index(path))
    assert (result.status, result.problems) == ("skipped", [(0, "cannot read: not a regular file")])


def test_an_unexpected_error_in_one_file_does_not_stop_the_pass(
    h: Harness, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """Defence in depth: a bug met on one file is logged with its trace and reported for that
    file; the other files are still indexed."""

    class Failing(ChatUpdate):
        def run(self, file: ChatFile, scan: Any) -> IndexResult:
            if self.location.file_name == "b":
                raise RuntimeError("a bug")
            result: IndexResult = super().run(file, scan)
            return result

    monkeypatch.setattr(indexer_module, "ChatUpdate", Failing)
    for name in "abc":
        st_save(h.root / HOSTILE_DIR / f"{name}.jsonl", FIRST)
    with caplog.at_level(logging.ERROR, logger="sidecar.indexer.scan"):
        summary = within(HANG, h.scan)
    assert summary.statuses == {"new": 2, "failed": 1}
    assert summary.problems == [
        (f"{HOSTILE_DIR}/b.jsonl", 0, "indexing failed (RuntimeError: a bug); see the log")
    ]
    assert [r.exc_info is not None for r in caplog.records] == [True]
