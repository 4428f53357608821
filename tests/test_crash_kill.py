"""SIGKILL at random moments, with real ``sidecar`` processes on real files: the short version of
``benchmarks/crash.py`` (machinery in ``tests/crash_scenarios.py``, canonical dump in
``tests/dbdump.py``). Here one series of daemon kills carries both the save burst and the
value-tracker clients (the benchmark runs them apart, with more kills)."""

from __future__ import annotations

from pathlib import Path

from tests.crash_report import KillReport
from tests.crash_saves import small_root
from tests.crash_scenarios import daemon_kills, index_kills
from tests.crash_tracker import TrackerLoad

KILLS = 5
SEED = 20261122


def check(report: KillReport) -> None:
    assert report.kills >= KILLS, report.summary()
    assert report.compared > 0, report.summary()
    assert not report.mismatches, "\n".join([report.summary(), *report.mismatches[:30]])


def test_index_killed_at_random_moments_ends_like_a_clean_run(tmp_path: Path) -> None:
    small_root(tmp_path / "st", SEED, chats=10, messages=240, size=150)
    report = index_kills(tmp_path / "st", tmp_path / "work", KILLS, SEED, log=lambda _: None)
    check(report)
    # Every sequence of kills ended with a run that finished, whose folder was compared whole.
    assert report.compared == report.notes["sequences"] == report.runs - report.kills


def test_daemon_killed_during_saves_and_writes_loses_nothing(tmp_path: Path) -> None:
    small_root(tmp_path / "st", SEED + 1, chats=8, messages=60, size=80)
    load = TrackerLoad(SEED)
    report = daemon_kills(
        tmp_path / "st", tmp_path / "work", KILLS, SEED, life=1.0, log=lambda _: None, load=load
    )
    check(report)
    assert sum(report.notes["saves"].values()) > 20, report.summary()
    assert report.notes["lost"] == 0, report.summary()
    assert report.notes["acknowledged writes checked"] > 50, report.summary()
