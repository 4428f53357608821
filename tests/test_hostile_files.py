"""sidecar next to hostile chat files: no crash, no hang, each bad line reported with its line
number, every good message indexed, SillyTavern's files untouched.

The cases are in ``hostile_cases.py``; here each is indexed by a full scan (as ``sidecar index``
and the daemon's reconcile do); ``test_hostile_files_daemon.py`` has them arrive in a running
daemon's data root.
"""

from __future__ import annotations

import tracemalloc

import pytest

from tests.hostile_cases import CASES
from tests.hostile_checks import (
    HANG,
    NEIGHBOUR,
    assert_messages,
    assert_problems,
    hostile_path,
    indexed_messages,
    store_is_consistent,
    within,
)
from tests.hostile_parts import HOSTILE_DIR, Case, fingerprint, good
from tests.index_harness import Harness
from tests.st_files import header, message, st_save

pytestmark = pytest.mark.filterwarnings(
    "ignore:Callback with id .* already exists for watch:RuntimeWarning"
)


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
