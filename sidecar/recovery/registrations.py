"""Registrations lost with a damaged registry: taken back from the newest backup of the
registry, then from the extension databases in the folder that hold value-tracker data (an
extension registers itself again when SillyTavern loads it anyway; this keeps its data reachable
until then)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from sidecar.ids import is_valid_id
from sidecar.recovery.backup import REGISTRY_ENTRY, counts, list_backups, registrations_in
from sidecar.storage.registry import ExtensionRegistry


def reregister(registry: ExtensionRegistry, database_dir: Path, backup_dir: Path) -> list[str]:
    said: list[str] = []
    known = {r.extension_id for r in registry.registrations()}
    backups = [b for b in list_backups(backup_dir) if b.entry(REGISTRY_ENTRY) is not None]
    if backups:
        for record in registrations_in(backups[0].path):
            if record.extension_id in known or not (database_dir / record.db_file).is_file():
                continue
            custom = record.db_file if record.db_file != f"{record.extension_id}.db" else None
            registry.register(record.extension_id, custom)
            if not record.registered:
                registry.deregister(record.extension_id)
            known.add(record.extension_id)
            said.append(f"registration of {record.extension_id} taken back from the backup "
                        f"of {backups[0].created}")  # fmt: skip
    claimed = {r.db_file for r in registry.registrations()}
    for path in sorted(database_dir.glob("*.db")):
        ext = path.name[:-3]
        if path.name in claimed or not is_valid_id(ext) or ext in known:
            continue
        try:
            characters, instances, _keys = counts(path)
        except sqlite3.DatabaseError:
            continue
        if characters or instances:
            registry.register(ext)
            said.append(f"{ext} registered again: {path.name} holds value-tracker data")
    return said
