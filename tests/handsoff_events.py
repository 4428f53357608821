"""Which audit events change which paths: the part of the hands-off guard that both the test
process (``tests/handsoff_guard.py``) and a watched ``sidecar`` subprocess
(``tests/handsoff_child/sitecustomize.py``) use. Only the standard library."""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

_REPO = str(Path(__file__).resolve().parent.parent)
CHILD_ROOTS_ENV = "SIDECAR_HANDSOFF_ROOTS"
CHILD_LOG_ENV = "SIDECAR_HANDSOFF_LOG"

_WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND
# event -> (positions of path arguments, position of dir_fd or None, whole tree?)
_PATH_EVENTS: dict[str, tuple[tuple[int, ...], int | None, bool]] = {
    "os.remove": ((0,), 1, False),
    "os.rmdir": ((0,), 1, False),
    "os.mkdir": ((0,), 2, False),
    "os.mkfifo": ((0,), 2, False),
    "os.mknod": ((0,), 3, False),
    "os.chmod": ((0,), 2, False),
    "os.chown": ((0,), 3, False),
    "os.utime": ((0,), 3, False),
    "os.truncate": ((0,), None, False),
    "os.setxattr": ((0,), None, False),
    "os.removexattr": ((0,), None, False),
    "os.symlink": ((1,), 2, False),
    "os.link": ((1,), 3, False),
    "os.rename": ((0, 1), 2, True),
    "shutil.copyfile": ((1,), None, False),
    "shutil.copymode": ((1,), None, False),
    "shutil.copystat": ((1,), None, False),
    "shutil.chown": ((0,), None, False),
    "shutil.copytree": ((1,), None, True),
    "shutil.rmtree": ((0,), 1, True),
    "shutil.move": ((0, 1), None, True),
}
_FD_EVENTS = {"fcntl.flock", "fcntl.lockf", "os.lockf", "fcntl.fcntl"}
_LOCK_COMMANDS = {
    getattr(__import__("fcntl"), name)
    for name in ("F_SETLK", "F_SETLKW", "F_OFD_SETLK", "F_OFD_SETLKW")
    if hasattr(__import__("fcntl"), name)
}
LIST_EVENTS = {"os.listdir", "os.scandir"}
EVENTS = frozenset(
    {"open", "sqlite3.connect", "subprocess.Popen", *_PATH_EVENTS, *_FD_EVENTS, *LIST_EVENTS}
)


def fd_path(fd: int) -> str | None:
    try:
        return os.readlink(f"/proc/self/fd/{fd}")
    except OSError:
        return None


def absolute(path: Any, dir_fd: Any = None) -> str | None:
    if isinstance(path, int):
        return fd_path(path)
    if not isinstance(path, str | bytes | os.PathLike):
        return None
    text = os.fsdecode(path)
    if not os.path.isabs(text) and isinstance(dir_fd, int) and dir_fd >= 0:
        base = fd_path(dir_fd)
        if base is None:
            return None
        text = os.path.join(base, text)
    return os.path.abspath(text)


def write_targets(event: str, args: tuple[Any, ...]) -> Iterable[tuple[str, bool]]:
    """(absolute path, whole tree?) that ``event`` changes; nothing for reads."""
    if event == "open":
        path, mode, flags = args
        writes = flags & _WRITE_FLAGS if isinstance(flags, int) and flags else None
        if writes is None:
            writes = isinstance(mode, str) and any(c in mode for c in "wax+")
        target = absolute(path) if writes and not isinstance(path, int) else None
        if target:
            yield target, False
    elif event == "sqlite3.connect":
        name = os.fsdecode(args[0]) if isinstance(args[0], str | bytes) else ""
        if name.startswith("file:"):
            if "mode=ro" in name:
                return
            name = name[5:].split("?", 1)[0]
        if name and name != ":memory:":
            yield os.path.abspath(name), False
    elif event in _FD_EVENTS:
        if event == "fcntl.fcntl" and args[1] not in _LOCK_COMMANDS:
            return
        target = absolute(args[0])
        if target:
            yield target, False
    else:
        positions, dir_fd_at, tree = _PATH_EVENTS[event]
        dir_fd = args[dir_fd_at] if dir_fd_at is not None and dir_fd_at < len(args) else None
        for position in positions:
            target = absolute(args[position], dir_fd)
            if target:
                yield target, tree


def child_env(roots: list[Path], log: Path) -> dict[str, str]:
    """Environment entries that make a Python subprocess log every write it makes under
    ``roots`` to ``log`` (``tests/handsoff_child/sitecustomize.py``)."""
    paths = [str(Path(__file__).resolve().parent / "handsoff_child"), _REPO]
    if os.environ.get("PYTHONPATH"):
        paths.append(os.environ["PYTHONPATH"])
    return {
        "PYTHONPATH": os.pathsep.join(paths),
        CHILD_ROOTS_ENV: os.pathsep.join(os.path.abspath(root) for root in roots),
        CHILD_LOG_ENV: str(log),
    }
