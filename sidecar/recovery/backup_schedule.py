"""Scheduled backups while sidecar runs: one at start when the newest is older than the interval
(after a short delay, so start-up work goes first), then one every ``backup_every_hours``."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from pathlib import Path

from sidecar.errors import SidecarError
from sidecar.recovery.backup import backup_now, list_backups
from sidecar.storage.registry import Registration

log = logging.getLogger("sidecar.backup")

START_DELAY_SECONDS = 30.0
RETRY_SECONDS = 600.0  # after a failed backup (a full disk)


def age_hours(backup_dir: Path) -> float | None:
    """Hours since the newest backup, or None when there is none."""
    backups = list_backups(backup_dir)
    if not backups:
        return None
    taken = datetime.strptime(backups[0].created[:15], "%Y%m%dT%H%M%S").replace(tzinfo=UTC)
    return (datetime.now(UTC) - taken).total_seconds() / 3600


class BackupSchedule:
    def __init__(
        self,
        database_dir: Path,
        backup_dir: Path,
        every_hours: float,
        keep: int,
        registrations: Callable[[], Iterable[Registration]],
        *,
        start_delay: float = START_DELAY_SECONDS,
    ) -> None:
        self.database_dir = database_dir
        self.backup_dir = backup_dir
        self.every = every_hours * 3600
        self.keep = keep
        self.registrations = registrations
        self.start_delay = start_delay
        self.last_error: str | None = None
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self.every <= 0:
            return
        self._thread = threading.Thread(target=self._run, name="sidecar-backup", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def _first_wait(self) -> float:
        age = age_hours(self.backup_dir)
        if age is None or age * 3600 >= self.every:
            return self.start_delay
        return self.every - age * 3600

    def _run(self) -> None:
        wait = self._first_wait()
        while not self._stopping.wait(wait):
            wait = self.every if self.run_once() else min(RETRY_SECONDS, self.every)

    def run_once(self) -> bool:
        try:
            made = backup_now(self.database_dir, self.backup_dir, self.registrations(), self.keep)
        except (OSError, SidecarError, Exception) as exc:
            self.last_error = f"{type(exc).__name__}: {exc}"
            log.error("backup failed (%s); trying again later", self.last_error)
            return False
        self.last_error = None
        log.info("backup taken: %s (%d files)", made.path, len(made.entries))
        return True
