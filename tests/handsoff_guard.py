"""The test suite's guard over SillyTavern's files: every data root a test uses is snapshotted and
verified, and an audit hook catches sidecar writing, moving, removing or locking anything in one.

Data roots are registered when a helper announces one (``handsoff.using_root``: ``Harness``,
``live_server``), when a ``sidecar`` subprocess is started (``--data-root``, ``--config``,
``SIDECAR_SILLYTAVERN__DATA_ROOT``, or what it would find by itself), or the first time code in
the sidecar package lists a folder that looks like a data root; each is snapshotted then.

Who made a write is the innermost frame on the stack that belongs to the sidecar package or to
the harness (tests/, benchmarks/): an ``st_save`` is the test's, ``os.replace`` called by the
indexer is sidecar's. A test's own writes under a root (saves, deletes, renames) make that path
"touched" and its differences are accepted; ``handsoff.wrote`` (``st_save`` calls it) instead
records the new state exactly, so even a sidecar subprocess changing that file later shows.

Audit hooks cannot be removed: the hook is installed once, returns at once for other events, and
its state is a stack of scopes (session, module, test) pushed and popped by conftest fixtures.
"""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

import sidecar
from sidecar.locations import find_sillytavern_data_root, looks_like_data_root
from tests import handsoff

SIDECAR_DIR = os.path.dirname(os.path.abspath(sidecar.__file__)) + os.sep
_REPO = os.path.dirname(SIDECAR_DIR.rstrip(os.sep))
HARNESS_DIRS = (os.path.join(_REPO, "tests") + os.sep, os.path.join(_REPO, "benchmarks") + os.sep)
_SELF = {os.path.abspath(__file__), os.path.abspath(handsoff.__file__)}

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
_LIST_EVENTS = {"os.listdir", "os.scandir"}
EVENTS = frozenset(
    {"open", "sqlite3.connect", "subprocess.Popen", *_PATH_EVENTS, *_FD_EVENTS, *_LIST_EVENTS}
)


@dataclass
class Watched:
    """A registered data root: its manifest and what the harness touched in it."""

    manifest: handsoff.Manifest
    touched: set[str] = field(default_factory=set)
    trees: set[str] = field(default_factory=set)

    def accepted(self, path: str) -> bool:
        if path in self.touched:
            return True
        return any(path == tree or path.startswith(tree + os.sep) for tree in self.trees)


@dataclass
class Scope:
    name: str
    roots: dict[str, Watched] = field(default_factory=dict)
    sidecar_writes: dict[tuple[str, str], str] = field(default_factory=dict)  # (path, event): where
    errors: list[str] = field(default_factory=list)


def _fd_path(fd: int) -> str | None:
    try:
        return os.readlink(f"/proc/self/fd/{fd}")
    except OSError:
        return None


def _absolute(path: Any, dir_fd: Any = None) -> str | None:
    if isinstance(path, int):
        return _fd_path(path)
    if not isinstance(path, str | bytes | os.PathLike):
        return None
    text = os.fsdecode(path)
    if not os.path.isabs(text) and isinstance(dir_fd, int) and dir_fd >= 0:
        base = _fd_path(dir_fd)
        if base is None:
            return None
        text = os.path.join(base, text)
    return os.path.abspath(text)


def _culprit() -> str | None:
    """``file:line`` of the innermost sidecar frame when sidecar, not the harness, is acting."""
    frame = sys._getframe(1)
    while frame is not None:
        name = frame.f_code.co_filename
        if name.startswith(SIDECAR_DIR):
            return f"sidecar/{name[len(SIDECAR_DIR) :]}:{frame.f_lineno}"
        if name.startswith(HARNESS_DIRS) and name not in _SELF:
            return None
        frame = frame.f_back  # type: ignore[assignment]
    return None


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


class Guard:
    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._local = threading.local()
        self._scopes: list[Scope] = []

    # -- scopes ----------------------------------------------------------------------------------

    def push(self, name: str) -> None:
        with self._lock:
            self._scopes.append(Scope(name))

    def pop(self) -> list[str]:
        """Close the innermost scope: what sidecar did to its roots and to the outer scopes'
        roots meanwhile (an outer root is re-recorded after a difference is reported once)."""
        with self._lock:
            scope = self._scopes.pop()
            problems = list(scope.errors)
            roots = {key: w for s in [scope, *self._scopes] for key, w in s.roots.items()}
            for (path, event), where in scope.sidecar_writes.items():
                if any(w.manifest.covers(path) for w in roots.values()):
                    problems.append(f"{path}: {event} by {where}")
            for key, watched in roots.items():
                found = [
                    f"{path}: {what} (data root {key})"
                    for path, what in watched.manifest.differences()
                    if not watched.accepted(path)
                ]
                if found and key not in scope.roots:
                    watched.manifest = handsoff.Manifest(Path(key))
                problems += found
            return problems

    def _find(self, path: str) -> Watched | None:
        for scope in self._scopes:
            for watched in scope.roots.values():
                if watched.manifest.covers(path):
                    return watched
        return None

    # -- registration and the harness's own writes ----------------------------------------------

    def register(self, root: Path) -> None:
        key = os.path.abspath(root)
        with self._lock:
            if not self._scopes or not os.path.isdir(key) or self._find(key) is not None:
                return
            inner = [
                (scope, k)
                for scope in self._scopes
                for k in scope.roots
                if k.startswith(key + os.sep)
            ]
            watched = Watched(handsoff.Manifest(Path(key)))
            for scope, k in inner:  # a root inside the new one: keep what it already knew
                old = scope.roots.pop(k)
                for stale in [p for p in watched.manifest.expected if old.manifest.covers(p)]:
                    del watched.manifest.expected[stale]
                watched.manifest.expected.update(old.manifest.expected)
                watched.touched |= old.touched
                watched.trees |= old.trees
            self._scopes[-1].roots[key] = watched

    def wrote(self, path: Path) -> None:
        target = os.path.abspath(path)
        with self._lock:
            watched = self._find(target)
            if watched is not None:
                watched.manifest.expect(target)
                watched.touched.discard(target)
                watched.trees.discard(target)

    # -- the audit hook ---------------------------------------------------------------------------

    def hook(self, event: str, args: tuple[Any, ...]) -> None:
        if event not in EVENTS or not self._scopes or getattr(self._local, "busy", False):
            return
        self._local.busy = True
        try:
            with self._lock:
                self._handle(event, args)
        except Exception as exc:  # an audit hook must never raise into the audited call
            with self._lock:
                if self._scopes:
                    self._scopes[-1].errors.append(f"hands-off guard failed on {event}: {exc!r}")
        finally:
            self._local.busy = False

    def _handle(self, event: str, args: tuple[Any, ...]) -> None:
        if event in _LIST_EVENTS:
            path = _absolute(args[0])
            if (
                path
                and self._find(path) is None
                and _culprit()
                and looks_like_data_root(Path(path))
            ):
                self.register(Path(path))
        elif event == "subprocess.Popen":
            for root in roots_of_command(args[1] if isinstance(args[1], list | tuple) else [],
                                         args[2], args[3]):  # fmt: skip
                self.register(root)
        else:
            targets = list(self._targets(event, args))
            if targets:
                self._writing(event, targets)

    def _targets(self, event: str, args: tuple[Any, ...]) -> Iterable[tuple[str, bool]]:
        """(absolute path, whole tree?) that ``event`` changes; nothing for reads."""
        if event == "open":
            path, mode, flags = args
            writes = flags & _WRITE_FLAGS if isinstance(flags, int) and flags else None
            if writes is None:
                writes = isinstance(mode, str) and any(c in mode for c in "wax+")
            target = _absolute(path) if writes and not isinstance(path, int) else None
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
            target = _absolute(args[0])
            if target:
                yield target, False
        else:
            positions, dir_fd_at, tree = _PATH_EVENTS[event]
            dir_fd = args[dir_fd_at] if dir_fd_at is not None and dir_fd_at < len(args) else None
            for position in positions:
                target = _absolute(args[position], dir_fd)
                if target:
                    yield target, tree

    def _writing(self, event: str, targets: list[tuple[str, bool]]) -> None:
        culprit = _culprit()
        with self._lock:
            for path, tree in targets:
                if culprit is not None:
                    self._scopes[-1].sidecar_writes.setdefault((path, event), culprit)
                    continue
                watched = self._find(path)
                for candidate in [watched] if watched else self._roots_inside(path):
                    (candidate.trees if tree else candidate.touched).add(
                        path if watched else candidate.manifest.root
                    )

    def _roots_inside(self, path: str) -> list[Watched]:
        """Roots that a tree operation on ``path`` (an ancestor) changes as a whole."""
        return [
            w
            for scope in self._scopes
            for w in scope.roots.values()
            if w.manifest.root.startswith(path + os.sep)
        ]


GUARD = Guard()
_installed: list[bool] = []


def install() -> Guard:
    """Install the audit hook (once per process) and listen to the harness's announcements."""
    if not _installed:
        handsoff.listen(GUARD.wrote, GUARD.register)
        sys.addaudithook(GUARD.hook)
        _installed.append(True)
    return GUARD
