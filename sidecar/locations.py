"""Where things are by default: sidecar's database folder and SillyTavern's data folder."""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from platformdirs import user_data_path


def default_database_dir() -> Path:
    """``~/.local/share/sidecar/databases`` on Linux (the platform's user data folder elsewhere)."""
    return user_data_path("sidecar", appauthor=False) / "databases"


def _candidates(home: Path, cwd: Path, environ: dict[str, str]) -> Iterable[Path]:
    if environ.get("SILLYTAVERN_DATAROOT"):
        yield Path(environ["SILLYTAVERN_DATAROOT"]).expanduser()
    yield cwd / "data"
    for install in ("SillyTavern", "sillytavern", "SillyTavern-Launcher/SillyTavern"):
        yield home / install / "data"
    yield Path("/home/node/app/data")  # the official Docker image


def looks_like_data_root(path: Path) -> bool:
    """A data root holds user folders that hold ``chats`` (a legacy root holds ``chats`` itself)."""
    try:
        if (path / "chats").is_dir():
            return True
        return any(
            child.is_dir() and not child.name.startswith(("_", ".")) and (child / "chats").is_dir()
            for child in path.iterdir()
        )
    except OSError:
        return False


def find_sillytavern_data_root(
    home: Path | None = None, cwd: Path | None = None, environ: dict[str, str] | None = None
) -> Path | None:
    """The first usual SillyTavern data folder that exists, or None."""
    home = home or Path.home()
    cwd = cwd or Path.cwd()
    env = dict(os.environ) if environ is None else environ
    for candidate in _candidates(home, cwd, env):
        if looks_like_data_root(candidate):
            return candidate.absolute()
    return None
