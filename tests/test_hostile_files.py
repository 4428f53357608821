"""sidecar next to hostile chat files: no crash, no hang, each bad line reported with its line
number, every good message indexed, SillyTavern's files untouched, and the daemon keeps serving.

The cases are in ``hostile_cases.py``; each is indexed by a full scan (as ``sidecar index`` and
the daemon's reconcile do) and, separately, arrives in a running daemon's data root.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import tracemalloc
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import msgspec
import pytest

from sidecar.indexer import indexer as indexer_module
from sidecar.indexer.update import ChatUpdate
from sidecar.indexer.update_state import IndexResult
from sidecar.sillytavern.chatfile import ChatFile
from sidecar.sillytavern.jsonline import MAX_DEPTH, TOO_DEEP, BadLine, decode_line
from sidecar.watch import ChatEventHandler, WatchMode, start_observer, stop_observer
from tests import handsoff
from tests.hostile_cases import (
    CASES,
    HEADER,
    HOSTILE_DIR,
    Case,
    fingerprint,
    good,
    joined,
)
from tests.hostile_checks import (
    Injected,
    append_line,
    assert_messages,
    assert_problems,
    indexed_messages,
    rewrite,
    rewrite_keeping_time,
    store_is_consistent,
    unprivileged,
    unreadable,
    within,
)
from tests.hostile_daemon import Client, running_daemon
from tests.index_harness import Harness
from tests.live_server import free_port, wait_until
from tests.st_files import header, message, st_save

pytestmark = pytest.mark.filterwarnings(
    "ignore:Callback with id .* already exists for watch:RuntimeWarning"
)

HANG = 60.0  # seconds; far more than any case needs (the 50 MB line takes a few seconds)
NEIGHBOUR = "default-user/chats/Aria/neighbour.jsonl"


@pytest.fixture
def h(tmp_path: Path) -> Iterator[Harness]:
    harness = Harness(tmp_path / "st", tmp_path / "db")
    yield harness
    harness.close()


def hostile_path(root: Path, case: Case) -> Path:
    return root / HOSTILE_DIR / f"{case.id}.jsonl"


# -- every case through a full scan -----------------------------------------------------------


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_full_scan_reports_bad_lines_and_indexes_the_rest(h: Harness, case: Case) -> None:
    st_save(h.root / NEIGHBOUR, [header(), message("next door", extra={"ext": {"n": 100}})])
    path = hostile_path(h.root, case)
    case.make(path)
    rel = path.relative_to(h.root).as_posix()
    before = fingerprint(h.root)
    size = path.stat().st_size if path.is_file() else 0
    measured = size > 2**20  # the 50 MB line: Python's peak memory stays a small multiple of it
    if measured:
        tracemalloc.start()
    try:
        summary = within(HANG, h.scan)
    finally:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    if measured:
        assert peak < 6 * size, f"peak {peak / 2**20:.0f} MiB for {size / 2**20:.0f} MiB"
    assert fingerprint(h.root) == before  # nothing written, moved, touched or chmod-ed
    assert "failed" not in summary.statuses  # no unexpected error on the way
    allowed = {rel, *(f"{HOSTILE_DIR}/{name}" for name in case.extra_paths)}
    assert {where for where, _, _ in summary.problems} <= allowed
    neighbour = h.chat_id(NEIGHBOUR)
    assert indexed_messages(h, neighbour) == [("next door", 100)]
    mine = [(line, reason) for where, line, reason in summary.problems if where == rel]
    rows = h.catalog_rows("SELECT chat_id FROM chats WHERE rel_path = ?", rel)
    if not case.indexed:
        assert rows == []
        assert h.catalog_rows("SELECT rel_path FROM chats") == [(NEIGHBOUR,)]
        if case.file_problem is None:
            assert mine == []
        else:
            assert [line for line, _ in mine] == [0]
            assert case.file_problem in mine[0][1]
        return
    [(chat_id,)] = rows
    assert_messages(case, indexed_messages(h, chat_id))
    assert_problems(case, mine)
    stored = h.catalog_rows("SELECT line_no, reason FROM problems WHERE chat_id = ?", chat_id)
    assert sorted(stored) == sorted(mine)
    store_is_consistent(h)
    assert within(HANG, h.scan).statuses == {"unchanged": 2}
    if case.appendable:  # a later save adds a message: problems stay, on the same lines
        data = path.read_bytes()
        st_save(path, data + (b"" if not data or data.endswith(b"\n") else b"\n") + good(99))
        result = within(HANG, lambda: h.index(path))
        assert result.status == "updated"
        assert_messages(
            Case(case.id, case.make, (*case.messages, ("good 99", 99))),
            indexed_messages(h, chat_id),
        )
        assert_problems(case, result.problems)
        again = h.catalog_rows("SELECT line_no, reason FROM problems WHERE chat_id = ?", chat_id)
        assert sorted(again) == sorted(stored)


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


# -- unreadable files, for real -------------------------------------------------------------


def test_unreadable_files_in_a_running_daemon_and_in_sidecar_index(tmp_path: Path) -> None:
    prefix = unprivileged()
    root = tmp_path / "st"
    st_save(root / NEIGHBOUR, joined(HEADER, good(1)))
    (root / HOSTILE_DIR).mkdir(parents=True)
    unreadable(root / HOSTILE_DIR / "secret.jsonl", joined(HEADER, good(2)))
    port = free_port()
    db = tmp_path / "db"
    env = {k: v for k, v in os.environ.items() if not k.startswith("SIDECAR_")}
    env |= {"SIDECAR_WATCH__QUIET_PERIOD_MS": "50", "SIDECAR_WATCH__MODE": "native"}
    args = ["--db-dir", str(db), "--data-root", str(root)]
    process = subprocess.Popen(
        [*prefix, sys.executable, "-m", "sidecar", "run", "--port", str(port), *args],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    client = Client(f"http://127.0.0.1:{port}", root)
    try:

        def up() -> bool:
            try:
                status = client.get("/status").json()
            except httpx.TransportError:
                return False
            return status["chats"] == 1 and not status["reconciling"]

        wait_until(up, timeout=30)
        unreadable(root / HOSTILE_DIR / "arrives-unreadable.jsonl", joined(HEADER, good(3)))
        st_save(root / HOSTILE_DIR / "later.jsonl", joined(HEADER, good(4)))
        wait_until(lambda: client.chat_id("later") is not None, timeout=30)
        assert client.healthy()
        assert client.messages(client.chat_id("later") or "") == [("good 4", 4)]
        assert client.chat_id("secret") is None
    finally:
        process.send_signal(signal.SIGTERM)
        output, _ = process.communicate(timeout=30)
    assert process.returncode == 0, output
    for name in ("secret", "arrives-unreadable"):
        assert f"{HOSTILE_DIR}/{name}.jsonl: cannot read: Permission denied" in output
    index = subprocess.run(
        [*prefix, sys.executable, "-m", "sidecar", "index", *args],
        env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert index.returncode == 0, index.stderr
    for name in ("secret", "arrives-unreadable"):
        assert f"{HOSTILE_DIR}/{name}.jsonl:0: cannot read: Permission denied" in index.stdout


# -- the daemon keeps serving -----------------------------------------------------------------


@pytest.fixture(scope="module")
def daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Client]:
    tmp = tmp_path_factory.mktemp("hostile-daemon")
    root = tmp / "st"
    st_save(root / NEIGHBOUR, joined(HEADER, good(1)))
    with running_daemon(tmp, root, "native") as (client, service):
        yield client
        assert service.worker is not None
        assert service.worker.failed == 0  # no exception ever escaped an index


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_running_daemon_survives_the_file_and_keeps_indexing(
    daemon: Client, case: Case, caplog: pytest.LogCaptureFixture
) -> None:
    root = daemon.root
    path = hostile_path(root, case)
    rel = path.relative_to(root).as_posix()
    with caplog.at_level(logging.WARNING, logger="sidecar.daemon"):
        case.make(path)
        # A later save of another chat: once it is indexed, the worker (which takes paths in the
        # order their first event came) went past the hostile file.
        after = f"after-{case.id}"
        st_save(root / "default-user/chats/Aria" / f"{after}.jsonl", joined(HEADER, good(7)))

        def after_indexed() -> bool:
            chat_id = daemon.chat_id(after)
            return chat_id is not None and daemon.messages(chat_id) == [("good 7", 7)]

        wait_until(after_indexed, timeout=HANG, interval=0.05)
    if case.indexed:
        chat_id = daemon.chat_id(case.id)
        assert chat_id is not None
        assert daemon.get(f"/chats/{chat_id}").json()["problems"] == len(case.problems)
        assert_messages(case, daemon.messages(chat_id))
    assert daemon.healthy()
    assert daemon.get("/status").status_code == 200
    if not case.indexed:
        assert daemon.chat_id(case.id) is None
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert errors == []  # no exception was met (the daemon logs each one it survives)
    logged = [r.getMessage() for r in caplog.records if r.name == "sidecar.daemon"]
    for line, _part in sorted(case.problems)[:5]:  # the first five of a file are logged
        assert any(m.startswith(f"{rel}:{line}: ") for m in logged), (line, logged)
    if case.file_problem is not None:
        assert any(m.startswith(f"{rel}: ") and case.file_problem in m for m in logged), logged
    if not case.appendable:  # the 50 MB file: later tests need not hash it again
        path.unlink()
        handsoff.wrote(path)


def test_running_daemon_indexes_a_file_written_in_place_in_steps(daemon: Client) -> None:
    """Not SillyTavern's way (it renames a new file over the chat), but an editor's: the daemon
    may read any half-written state and must end with the final content."""
    root = daemon.root
    path = root / HOSTILE_DIR / "in-place.jsonl"
    lines = [HEADER, *(good(n) for n in range(1, 40))]
    with open(path, "wb") as handle:
        for line in lines:
            handle.write(line + b"\n")
            handle.flush()
    handsoff.wrote(path)
    expected = [(f"good {n}", n) for n in range(1, 40)]

    def final() -> bool:
        chat_id = daemon.chat_id("in-place")
        return chat_id is not None and daemon.messages(chat_id) == expected

    wait_until(final, timeout=HANG)
    assert daemon.healthy()


@pytest.mark.parametrize("mode", ["polling", "native"])
def test_folder_symlink_loops_do_not_stop_the_watcher(tmp_path: Path, mode: WatchMode) -> None:
    """Two folder links up the tree: watchdog's poller used to walk them 2**40 times."""
    root = tmp_path / "st"
    chats = root / "default-user" / "chats"
    st_save(chats / "Sera" / "a.jsonl", joined(HEADER, good(1)))
    os.symlink(".", chats / "Sera" / "self")
    os.symlink("..", chats / "up")
    os.symlink(".", chats / "loop")
    seen: list[Path] = []
    # The first snapshot is taken inside start(): with the loops followed, start never returned.
    observer, used = within(
        15, lambda: start_observer(root, ChatEventHandler(root, seen.append), mode, 0.05)
    )
    try:
        assert used == mode
        st_save(chats / "Sera" / "b.jsonl", joined(HEADER, good(2)))
        wait_until(lambda: chats / "Sera" / "b.jsonl" in seen, timeout=15)
    finally:
        assert within(15, lambda: stop_observer(observer))
    with running_daemon(tmp_path, root, mode) as (client, _service):
        st_save(chats / "Sera" / "c.jsonl", joined(HEADER, good(3)))
        wait_until(lambda: client.chat_id("c") is not None, timeout=15)
        assert client.healthy()
        names = {c["fileName"] for c in client.get("/chats", limit=1000).json()["items"]}
        assert names == {"a", "b", "c"}


# -- reading one line -------------------------------------------------------------------------


def _nested(depth: int) -> bytes:
    return b'{"v":' + b"[" * (depth - 1) + b"]" * (depth - 1) + b"}"


@pytest.mark.parametrize(
    ("line", "value", "notes"),
    [
        (b'{"a":1,"a":2}', {"a": 2}, ()),
        (b'{"s":"caf\xc3\xa9"}', {"s": "caf\u00e9"}, ()),
        (b'{"s":"\xff"}', {"s": "\ufffd"}, ("invalid UTF-8",)),
        (b'{"s":"\\ud83d\\ude00 \\udc00"}', {"s": "\U0001f600 \ufffd"}, ("lone UTF-16",)),
        (b'{"\\ud800":1}', {"\ufffd": 1}, ("lone UTF-16",)),
        (b'{"n":[1e999,-1e999,1]}', {"n": [None, None, 1]}, ("too large for a double",)),
        (b'{"n":123456789012345678901234567890}', {"n": 123456789012345678901234567890}, ()),
        (b'{"s":"\\u0000"}', {"s": "\x00"}, ()),
    ],
)
def test_a_line_is_read_as_json_parse_reads_it(
    line: bytes, value: Any, notes: tuple[str, ...]
) -> None:
    got, got_notes = decode_line(line)
    assert got == value
    assert len(got_notes) == len(notes)
    assert all(part in note for part, note in zip(notes, got_notes, strict=True))


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        (b'{"a":NaN}', "invalid JSON: NaN is not a JSON value"),
        (b"Infinity", "invalid JSON: Infinity is not a JSON value"),
        (b'{"a":1', "invalid JSON: "),
        (b'{"a":"x\x00"}', "invalid JSON: "),
        (b'{"a":\xff1}', "invalid JSON: "),
        (_nested(MAX_DEPTH + 1), TOO_DEEP),
        (b"[" * 100_000 + b"]" * 100_000, TOO_DEEP),
    ],
)
def test_a_line_json_parse_refuses_is_bad(line: bytes, reason: str) -> None:
    with pytest.raises(BadLine) as error:
        decode_line(line)
    assert str(error.value).startswith(reason)


def test_nesting_limit_does_not_depend_on_the_callers_stack() -> None:
    """Whatever was read can be encoded again, even from a much deeper stack (the indexer once
    read a 992-deep value and then failed to encode it: RecursionError, file not indexed)."""
    value, _ = decode_line(_nested(MAX_DEPTH))

    def deep(levels: int) -> bytes:
        return msgspec.json.encode(value) if levels == 0 else deep(levels - 1)

    assert deep(300) == _nested(MAX_DEPTH)


def test_fifo_is_never_opened_for_long(tmp_path: Path) -> None:
    fifo = tmp_path / "st" / "x.jsonl"
    fifo.parent.mkdir()
    os.mkfifo(fifo)
    with pytest.raises(OSError, match="not a regular file"):
        within(10, lambda: ChatFile(fifo))
