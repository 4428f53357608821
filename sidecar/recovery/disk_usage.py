"""How many bytes sidecar's database folder takes, per database and for the line store."""

from __future__ import annotations

import os
from contextlib import suppress
from pathlib import Path
from typing import Any

from sidecar.recovery.pack_files import LINES_DIR, packs_size
from sidecar.storage.registry import CATALOG_FILE, REGISTRY_FILE

_SQLITE_SUFFIXES = ("", "-wal", "-shm")


def _sqlite_size(path: Path) -> int:
    total = 0
    for suffix in _SQLITE_SUFFIXES:
        with suppress(OSError):
            total += os.stat(f"{path}{suffix}").st_size
    return total


def disk_usage(database_dir: Path) -> dict[str, Any]:
    """Bytes on disk: ``catalog``, ``line_store``, ``registry``, ``extensions`` (database file
    name without ``.db`` -> bytes) and ``total``. SQLite sizes include the -wal and -shm files."""
    extensions: dict[str, int] = {}
    if database_dir.is_dir():
        for path in sorted(database_dir.glob("*.db")):
            if path.name not in (CATALOG_FILE, REGISTRY_FILE):
                extensions[path.name.removesuffix(".db")] = _sqlite_size(path)
    usage: dict[str, Any] = {
        "catalog": _sqlite_size(database_dir / CATALOG_FILE),
        "line_store": packs_size(database_dir / LINES_DIR),
        "registry": _sqlite_size(database_dir / REGISTRY_FILE),
        "extensions": extensions,
    }
    usage["total"] = (
        usage["catalog"] + usage["line_store"] + usage["registry"] + sum(extensions.values())
    )
    return usage
