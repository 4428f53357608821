"""Which SillyTavern data root a ``sidecar`` command line will use, resolved as sidecar resolves it
(``--data-root``, ``--config``, ``SIDECAR_SILLYTAVERN__DATA_ROOT``, or what it finds by itself):
the hands-off guard registers that root when the command is started (see handsoff_guard.py)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from sidecar.locations import find_sillytavern_data_root


def roots_of_command(args: Sequence[Any], cwd: Any, env: Any) -> list[Path]:
    """The data root a ``sidecar`` command line will use, as sidecar would resolve it."""
    words = [os.fsdecode(a) if isinstance(a, str | bytes | os.PathLike) else "" for a in args]
    if "sidecar" not in {os.path.basename(word) for word in words}:
        return []
    environ = dict(os.environ if env is None else env)
    found: Path | None = None
    for index, word in enumerate(words):
        value = words[index + 1] if index + 1 < len(words) else None
        if word.startswith("--data-root="):
            found = Path(word.split("=", 1)[1])
        elif word == "--data-root" and value:
            found = Path(value)
        elif (word == "--config" and value) and found is None:
            found = _root_in_config(Path(value))
    found = found or _path(environ.get("SIDECAR_SILLYTAVERN__DATA_ROOT"))
    if found is None:
        home = Path(environ.get("HOME", str(Path.home())))
        found = find_sillytavern_data_root(home, Path(cwd or os.getcwd()), environ)
    base = os.fsdecode(cwd) if cwd is not None else os.getcwd()
    return [Path(base, found.expanduser())] if found is not None else []


def _path(value: str | None) -> Path | None:
    return Path(value) if value else None


def _root_in_config(config: Path) -> Path | None:
    try:
        data = yaml.safe_load(config.read_text(encoding="utf-8")) or {}
        return _path((data.get("sillytavern") or {}).get("data_root"))
    except (OSError, yaml.YAMLError, AttributeError):
        return None
