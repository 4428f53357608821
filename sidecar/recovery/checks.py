"""Cheap checks of every file in the database folder, at start and by ``sidecar repair``.

Each SQLite file: its header, then ``PRAGMA quick_check`` within a time budget (a check cut short
by the budget counts as passed: the running checks of :mod:`sidecar.storage.faults` catch what it
did not reach). Each pack file of the line store: its length against the furthest byte the
catalog's ``lines`` table says it holds. Only reads.
"""

from __future__ import annotations

import os
import sqlite3
import time
from collections.abc import Callable
from contextlib import closing, suppress
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

from sidecar.ids import is_valid_id
from sidecar.recovery.pack_files import LINES_DIR, list_packs, pack_path
from sidecar.storage.faults import classify, describe
from sidecar.storage.registry import CATALOG_FILE, REGISTRY_FILE

HEADER = b"SQLite format 3\x00"
START_BUDGET_SECONDS = 10.0
_PROGRESS_STEPS = 20_000


@dataclass(frozen=True)
class FileProblem:
    path: Path
    shown: str  # relative to the database folder
    reason: str

    @property
    def missing(self) -> bool:
        return not self.path.exists()


@dataclass
class CheckReport:
    damaged: dict[str, FileProblem] = field(default_factory=dict)  # shown name -> problem
    lost_packs: dict[int, int] = field(default_factory=dict)  # pack -> bytes it still holds
    lost_lines: int = 0  # ``lines`` rows whose bytes are gone
    unchecked: list[str] = field(default_factory=list)  # quick_check cut short by the budget
    seconds: float = 0.0

    def problem(self, shown: str) -> FileProblem | None:
        return self.damaged.get(shown)


def _ro(path: Path) -> sqlite3.Connection:
    return sqlite3.connect(f"file:{quote(str(path))}?mode=ro", uri=True, timeout=30)


def check_sqlite(path: Path, deadline: float | None) -> tuple[str | None, bool]:
    """``(what is wrong or None, whether the check was complete)`` for one SQLite file."""
    try:
        size = path.stat().st_size
        with path.open("rb") as fh:
            head = fh.read(100)
    except FileNotFoundError:
        return None, True
    except OSError as exc:
        return f"cannot be read: {exc.strerror}", True
    if size == 0:
        return None, True  # SQLite treats an empty file as an empty database
    if not head.startswith(HEADER):
        return "not an SQLite database: its header is overwritten", True
    if size < 512:
        return f"truncated to {size} bytes", True
    complete = True

    def over_budget() -> int:
        nonlocal complete
        if deadline is not None and time.monotonic() > deadline:
            complete = False
            return 1
        return 0

    try:
        with closing(_ro(path)) as conn:
            conn.set_progress_handler(over_budget, _PROGRESS_STEPS)
            rows = [row[0] for row in conn.execute("PRAGMA quick_check(5)")]
    except sqlite3.OperationalError as exc:
        if not complete and "interrupt" in str(exc):
            return None, False
        return (describe(exc) if classify(exc) else None), True
    except sqlite3.DatabaseError as exc:
        return describe(exc), True
    if rows != ["ok"]:
        return f"quick_check: {'; '.join(rows)[:200]}", True
    return None, True


def sqlite_files(database_dir: Path, registered: dict[str, str]) -> dict[str, Path]:
    """shown name -> path of every database sidecar keeps there: the registry, the catalog,
    every registered file and every ``<id>.db`` (not the ``.damaged-...`` copies)."""
    found = {name: database_dir / name for name in (REGISTRY_FILE, CATALOG_FILE)}
    for db_file in registered.values():
        found[db_file] = database_dir / db_file
    if database_dir.is_dir():
        for path in database_dir.glob("*.db"):
            if is_valid_id(path.name[:-3]):
                found[path.name] = path
    return found


def pack_extents(catalog: Path) -> dict[int, tuple[int, int]]:
    """pack -> (furthest byte the catalog refers to, lines in it)."""
    with closing(_ro(catalog)) as conn:
        rows = conn.execute(
            'SELECT pack, max("offset" + length), count(*) FROM lines GROUP BY pack'
        ).fetchall()
    return {pack: (int(end), int(count)) for pack, end, count in rows}


def lost_line_count(catalog: Path, lost: dict[int, int]) -> int:
    with closing(_ro(catalog)) as conn:
        return sum(
            int(conn.execute(
                'SELECT count(*) FROM lines WHERE pack = ? AND "offset" + length > ?',
                (pack, present),
            ).fetchone()[0])
            for pack, present in lost.items()
        )  # fmt: skip


def check_packs(database_dir: Path, report: CheckReport) -> None:
    """Compare every pack file's length with the catalog (the catalog must be readable)."""
    catalog = database_dir / CATALOG_FILE
    if not catalog.is_file():
        return
    store = database_dir / LINES_DIR
    sizes = list_packs(store)
    for pack, (end, _count) in sorted(pack_extents(catalog).items()):
        present = sizes.get(pack)
        shown = f"{LINES_DIR}/{pack_path(store, pack).name}"
        if present is None:
            report.lost_packs[pack] = 0
            reason = (
                "the file is missing" if store.is_dir() else f"the {LINES_DIR}/ folder is missing"
            )
            report.damaged[shown] = FileProblem(pack_path(store, pack), shown, reason)
        elif present < end:
            report.lost_packs[pack] = present
            reason = f"shorter ({present} bytes) than the catalog says ({end} bytes)"
            report.damaged[shown] = FileProblem(pack_path(store, pack), shown, reason)
    if report.lost_packs:
        report.lost_lines = lost_line_count(catalog, report.lost_packs)


def check_folder(
    database_dir: Path,
    registered: dict[str, str] | None = None,
    budget_seconds: float | None = START_BUDGET_SECONDS,
    on_file: Callable[[str], None] | None = None,
) -> CheckReport:
    """Check every database (``registered``: extension id -> db file) and pack file."""
    started = time.monotonic()
    deadline = None if budget_seconds is None else started + budget_seconds
    report = CheckReport()
    for shown, path in sorted(sqlite_files(database_dir, registered or {}).items()):
        if on_file is not None:
            on_file(shown)
        reason, complete = check_sqlite(path, deadline)
        if reason is not None:
            report.damaged[shown] = FileProblem(path, shown, reason)
        if not complete:
            report.unchecked.append(shown)
    if CATALOG_FILE not in report.damaged:
        with suppress(sqlite3.Error):  # a catalog damaged where quick_check did not look
            check_packs(database_dir, report)
    report.seconds = time.monotonic() - started
    return report


def file_size(path: Path) -> int:
    try:
        return os.stat(path).st_size
    except OSError:
        return 0


def describe_folder(database_dir: Path, registered: dict[str, str]) -> list[str]:
    """What ``sidecar status`` and ``sidecar gc`` say about the files: damaged ones, lost lines
    and the versions that need them. Read-only."""
    from sidecar.recovery.orphans import lost_versions_in  # noqa: PLC0415 - only for this report

    report = check_folder(database_dir, registered)
    said = [f"{shown}: {problem.reason}" for shown, problem in sorted(report.damaged.items())]
    if report.unchecked:
        said.append(f"not fully checked (time budget): {', '.join(report.unchecked)}")
    if report.lost_packs and CATALOG_FILE not in report.damaged:
        said.append(f"{report.lost_lines} lines lost from the line store")
        said += lost_versions_in(database_dir / CATALOG_FILE, report.lost_packs)
    return said
