"""Checks and tools of the hostile-file tests: a hang guard, what a harness indexed, the races a
watcher meets (real file operations at precise moments of a real read), unreadable files."""

from __future__ import annotations

import os
import shutil
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import msgspec
import pytest

from sidecar.sillytavern.chatfile import KEEP_BYTES, ChatFile, line_hash
from sidecar.storage.linestore import LineRef
from tests import handsoff
from tests.hostile_parts import HOSTILE_DIR, Big, Case, good
from tests.index_harness import Harness

T = TypeVar("T")

HANG = 60.0  # seconds; far more than any case needs (the 50 MB line takes a few seconds)
NEIGHBOUR = "default-user/chats/Aria/neighbour.jsonl"


def hostile_path(root: Path, case: Case) -> Path:
    return root / HOSTILE_DIR / f"{case.id}.jsonl"


def within(seconds: float, work: Callable[[], T]) -> T:
    """Run ``work`` on a thread; fail if it hangs, re-raise what it raised."""
    outcome: dict[str, Any] = {}

    def run() -> None:
        try:
            outcome["value"] = work()
        except BaseException as exc:
            outcome["error"] = exc

    thread = threading.Thread(target=run, daemon=True, name="hostile-work")
    thread.start()
    thread.join(seconds)
    if thread.is_alive():
        pytest.fail(f"hung: still running after {seconds} s")
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]  # type: ignore[no-any-return]


def indexed_messages(h: Harness, chat_id: str) -> list[tuple[str | None, Any]]:
    """(text, ``ext.n`` of the selected swipe) of every indexed message, in order."""
    rows = h.catalog_rows(
        "SELECT msg_uid, text FROM messages WHERE chat_id = ? ORDER BY position", chat_id
    )
    selected: dict[int, Any] = {}
    if (h.db_dir / "ext.db").exists():
        data = h.query(
            "ext.db",
            "SELECT msg_uid, value FROM message_data WHERE chat_id = ? AND key = 'n' AND selected",
            chat_id,
        )
        selected = {uid: msgspec.json.decode(value) for uid, value in data}
    return [(text, selected.get(uid)) for uid, text in rows]


def assert_messages(case: Case, got: list[tuple[str | None, Any]]) -> None:
    assert len(got) == len(case.messages), [text[:40] if text else text for text, _ in got]
    for (text, n), (want_text, want_n) in zip(got, case.messages, strict=True):
        if isinstance(want_text, Big):
            assert want_text.matches(text)
        else:
            assert text == want_text
        assert n == want_n, (text, n, want_n)


def assert_problems(case: Case, got: list[tuple[int, str]]) -> None:
    """One reported problem per expected one, on the expected line, saying what is expected."""
    assert sorted(line for line, _ in got) == sorted(line for line, _ in case.problems), got
    for line, part in case.problems:
        reasons = [reason for number, reason in got if number == line]
        assert any(part in reason for reason in reasons), (line, part, reasons)


def store_is_consistent(h: Harness) -> None:
    """Every line in the line store is the bytes its hash names."""
    for digest, pack, offset, length in h.catalog_rows(
        "SELECT hash, pack, offset, length FROM lines"
    ):
        assert line_hash(h.line_store.read(LineRef(pack, offset, length))) == digest


class Injected(ChatFile):
    """The real ChatFile; ``before_open`` / ``after_scan`` run real file operations at those
    moments (the races a watcher meets), then everything proceeds as usual."""

    before_open: Callable[[Path], None] | None = None
    after_scan: Callable[[Path], None] | None = None
    times = 1  # how many opens / scans get the operation

    def __init__(self, path: Path) -> None:
        if Injected.before_open is not None and Injected.times > 0:
            Injected.times -= 1
            Injected.before_open(path)
        super().__init__(path)

    def scan(self, keep_bytes: int = KEEP_BYTES) -> Any:
        found = super().scan(keep_bytes)
        if Injected.after_scan is not None and Injected.times > 0:
            Injected.times -= 1
            Injected.after_scan(self.path)
        return found


def rewrite(data: bytes) -> Callable[[Path], None]:
    def write(path: Path) -> None:  # in place: same inode, as a non-SillyTavern tool would
        with open(path, "r+b") as handle:
            handle.write(data)
            handle.truncate()

    return write


def rewrite_keeping_time(data: bytes) -> Callable[[Path], None]:
    def write(path: Path) -> None:  # same size, time put back (rsync --inplace --times does)
        info = path.stat()
        rewrite(data)(path)
        os.utime(path, ns=(info.st_atime_ns, info.st_mtime_ns))

    return write


def append_line(path: Path) -> None:
    with open(path, "ab") as handle:
        handle.write(b"\n" + good(4))


def unprivileged() -> list[str]:
    """A command prefix under which this user cannot read a file with mode 000. Root can read
    anything, so as root the child loses the capabilities that allow it (the honest way that
    works here: the interpreter lives under /root, which user 65534 cannot enter)."""
    if os.geteuid() != 0:
        return []
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        pytest.skip("running as root without setpriv: cannot give up reading every file")
    return [setpriv, "--bounding-set", "-dac_override,-dac_read_search"]


def unreadable(path: Path, data: bytes) -> None:
    """Save ``data`` at ``path`` with mode 000 from the start (never readable, not a moment)."""
    temp = path.with_name(path.name + ".1800000000001")
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0)
    try:
        os.write(fd, data)
    finally:
        os.close(fd)
    os.replace(temp, path)
    handsoff.wrote(path)
