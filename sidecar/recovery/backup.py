"""Online backups of what cannot be rebuilt from SillyTavern's files: every extension database's
value-tracker tables (characters, instances, instance data) and the registry.

Each file is copied with SQLite's online backup API (a consistent snapshot while sidecar keeps
serving), then the copy is stripped of the chat data indexed into it (namespace rows, their
history and full-text index: rebuilt from the chat files on restore) and compacted. A backup is
one folder ``<backup_dir>/<UTC time>/`` with a ``manifest.json``; it appears only when complete
(written under a temporary name, then renamed). The newest ``keep`` backups are kept.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import sqlite3
from collections.abc import Iterable
from contextlib import closing
from dataclasses import asdict, dataclass, field
from pathlib import Path
from urllib.parse import quote

from sidecar.recovery.pack_files import fsync_dir
from sidecar.recovery.salvage import stamp
from sidecar.storage.fts import DATA_FTS_OBJECTS
from sidecar.storage.registry import REGISTRY_FILE, Registration

log = logging.getLogger("sidecar.backup")

MANIFEST = "manifest.json"
DERIVED_TABLES = ("message_data", "chat_data", "data_history")
REGISTRY_ENTRY = "registry"


@dataclass
class BackupEntry:
    name: str  # extension id, or "registry"
    file: str  # file name inside the backup folder
    db_file: str  # file name in the database folder
    characters: int = 0
    instances: int = 0
    data_keys: int = 0
    bytes: int = 0


@dataclass
class BackupSet:
    path: Path
    created: str
    entries: list[BackupEntry] = field(default_factory=list)

    def entry(self, name: str) -> BackupEntry | None:
        return next((e for e in self.entries if e.name == name), None)


def _ro(path: Path) -> sqlite3.Connection:
    return sqlite3.connect(f"file:{quote(str(path))}?mode=ro", uri=True, timeout=30)


def copy_database(source: Path, target: Path, *, tracker_only: bool) -> None:
    """Copy ``source`` to ``target`` with the backup API; ``tracker_only`` drops chat data."""
    with closing(_ro(source)) as src, closing(sqlite3.connect(str(target))) as dst:
        src.backup(dst)  # all pages in one step: one consistent snapshot
        if tracker_only:
            kinds = dict(dst.execute("SELECT name, type FROM sqlite_master").fetchall())
            names = set(kinds)
            # The full-text index is recreated (from the restored rows) when the file is opened.
            for name in DATA_FTS_OBJECTS:  # triggers first
                if name in kinds:
                    dst.execute(f"DROP {kinds[name].upper()} {name}")
            for table in DERIVED_TABLES:
                if table in names:
                    dst.execute(f"DELETE FROM {table}")
            dst.commit()
        dst.execute("PRAGMA journal_mode=DELETE")
        dst.execute("VACUUM")
    with target.open("rb") as fh:
        os.fsync(fh.fileno())


def counts(path: Path) -> tuple[int, int, int]:
    """(characters, instances, data keys) of an extension database or backup."""
    with closing(_ro(path)) as conn:
        return tuple(  # type: ignore[return-value]
            int(conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0])
            for table in ("characters", "instances", "instance_data")
        )


def registrations_in(database_dir: Path) -> list[Registration]:
    """The registrations, read-only (for ``sidecar backup`` while the daemon runs)."""
    path = database_dir / REGISTRY_FILE
    if not path.is_file():
        return []
    with closing(_ro(path)) as conn:
        rows = conn.execute(
            "SELECT extension_id, db_file, registered, created_at FROM extensions"
        ).fetchall()
    return [Registration(ext, db_file, bool(reg), created) for ext, db_file, reg, created in rows]


def backup_now(
    database_dir: Path, backup_dir: Path, registrations: Iterable[Registration], keep: int
) -> BackupSet:
    """Back up the registry and every extension database that exists; prune to ``keep``."""
    created = stamp()
    backup_dir.mkdir(parents=True, exist_ok=True)
    n = 1
    while (backup_dir / created).exists():  # two backups within a second
        n += 1
        created = f"{stamp()}-{n}"
    partial = backup_dir / f".{created}.partial"
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir()
    result = BackupSet(backup_dir / created, created)
    try:
        registry = database_dir / REGISTRY_FILE
        if registry.is_file():
            copy_database(registry, partial / REGISTRY_FILE, tracker_only=False)
            result.entries.append(BackupEntry(REGISTRY_ENTRY, REGISTRY_FILE, REGISTRY_FILE))
        for record in registrations:
            source = database_dir / record.db_file
            if not source.is_file():
                continue
            name = f"{record.extension_id}.db"
            copy_database(source, partial / name, tracker_only=True)
            chars, insts, keys = counts(partial / name)
            result.entries.append(
                BackupEntry(record.extension_id, name, record.db_file, chars, insts, keys)
            )
        for entry in result.entries:
            entry.bytes = (partial / entry.file).stat().st_size
        manifest = {"created": created, "entries": [asdict(e) for e in result.entries]}
        (partial / MANIFEST).write_text(json.dumps(manifest, indent=1), encoding="utf-8")
        fsync_dir(partial)
        partial.rename(result.path)
        fsync_dir(backup_dir)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    prune(backup_dir, keep)
    return result


def list_backups(backup_dir: Path) -> list[BackupSet]:
    """Complete backups, newest first."""
    found = []
    if not backup_dir.is_dir():
        return []
    for folder in backup_dir.iterdir():
        try:
            data = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
            entries = [BackupEntry(**e) for e in data["entries"]]
        except (OSError, ValueError, KeyError, TypeError):
            continue
        found.append(BackupSet(folder, str(data["created"]), entries))
    return sorted(found, key=lambda b: b.created, reverse=True)


def prune(backup_dir: Path, keep: int) -> list[Path]:
    removed = []
    for old in list_backups(backup_dir)[keep:]:
        shutil.rmtree(old.path, ignore_errors=True)
        removed.append(old.path)
    return removed
