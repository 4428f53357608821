"""``sidecar restore-db``: put an extension database back from a backup.

The current file (if any) is moved aside as ``<id>.replaced-<time>.db``, never deleted; the
backup's copy takes its place. The backup holds value-tracker data only: the chat data indexed
into that file is rebuilt from the chat files (its chats are marked for a resync).
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from sidecar.errors import InvalidInput, NotFound
from sidecar.recovery.backup import BackupEntry, BackupSet, counts, list_backups
from sidecar.recovery.pack_files import fsync_dir
from sidecar.recovery.salvage import move_aside, stamp
from sidecar.storage.extension_db import ExtensionDatabase
from sidecar.storage.faults import FAULTS
from sidecar.storage.sqlite import SqliteOptions


@dataclass
class RestorePlan:
    extension_id: str
    source: Path  # the backup's file
    created: str  # when the backup was taken
    target: Path  # the extension's file in the database folder
    backup_counts: tuple[int, int, int]  # characters, instances, data keys

    def describe(self) -> str:
        chars, insts, keys = self.backup_counts
        now = "replacing the current file (kept as <id>.replaced-<time>.db)"
        return (
            f"restore {self.target.name} from the backup of {self.created} ({self.source}): "
            f"{chars} characters, {insts} instances, {keys} data keys; "
            + (now if self.target.exists() else "there is no current file")
        )


def choose(
    backup_dir: Path, extension_id: str, source: Path | None, db_file: str | None
) -> RestorePlan:
    """The backup to restore: ``source`` (a backup folder or a file), else the newest backup
    holding the extension."""
    database_dir_file = db_file or f"{extension_id}.db"
    if source is not None and source.is_file():
        backup = BackupSet(source.parent, "(given file)", [])
        entry = BackupEntry(extension_id, source.name, database_dir_file)
    else:
        backups = list_backups(backup_dir) if source is None else _one(source)
        found = [(b, e) for b in backups if (e := b.entry(extension_id)) is not None]
        if not found:
            where = source or backup_dir
            raise NotFound(f"no backup of extension {extension_id} in {where}")
        backup, entry = found[0]
    path = backup.path / entry.file
    return RestorePlan(extension_id, path, backup.created, Path(database_dir_file), counts(path))


def _one(folder: Path) -> list[BackupSet]:
    found = [b for b in list_backups(folder.parent) if b.path == folder]
    if not found:
        raise InvalidInput(f"{folder} is not a complete sidecar backup (no manifest.json)")
    return found


def restore(plan: RestorePlan, database_dir: Path, options: SqliteOptions) -> Path | None:
    """Carry out ``plan``; returns where the replaced file went (None: there was none)."""
    target = database_dir / plan.target.name
    aside = move_aside(target, stamp(), "replaced") if target.exists() else None
    partial = target.with_name(f".{target.name}.restoring")
    shutil.copyfile(plan.source, partial)
    with partial.open("rb") as fh:
        os.fsync(fh.fileno())
    os.replace(partial, target)
    fsync_dir(database_dir)
    ExtensionDatabase(plan.extension_id, target, options).close()  # recreates its indexes
    FAULTS.clear(target)
    return aside
