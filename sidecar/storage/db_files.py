"""The names of sidecar's files in the database folder, and the check of a requested ``dbPath``."""

from __future__ import annotations

import re
from pathlib import Path

from sidecar.errors import InvalidInput

REGISTRY_FILE = "sidecar.registry.db"
CATALOG_FILE = "sidecar.index.db"
RESERVED_FILES = frozenset({REGISTRY_FILE, CATALOG_FILE})
_DB_FILE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,200}\.db", re.ASCII)


def db_file_for(database_dir: Path, extension_id: str, db_path: str | None) -> str:
    """The file name an extension's database gets: ``<id>.db``, or a validated ``dbPath``."""
    name = f"{extension_id}.db" if db_path is None else db_path
    if db_path is not None and (
        not _DB_FILE.fullmatch(db_path) or ".." in db_path or db_path in RESERVED_FILES
    ):
        raise InvalidInput(
            "Invalid dbPath: it must be a file name ending in .db inside the database folder"
        )
    resolved = (database_dir / name).resolve()
    if resolved.parent != database_dir.resolve():
        raise InvalidInput("Invalid dbPath: it resolves outside the database folder")
    return name
