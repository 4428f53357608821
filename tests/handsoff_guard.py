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

A root that a real SillyTavern writes itself (``Guard.written_by_sillytavern``, used by the
end-to-end harness) cannot be held to a manifest: SillyTavern saves chats, settings and backups
there at any time. What is still guaranteed for such a root:

- sidecar code in this process writing, moving, removing, locking or opening a database in it is
  reported, exactly as for any root (the audit hook and ``_culprit`` work the same);
- a ``sidecar`` subprocess started with ``child_env`` runs the same audit hook over its whole
  process (``tests/handsoff_child/sitecustomize.py``, everything in it is sidecar): every write,
  rename, removal, lock or read-write SQLite open under the root is logged and reported when a
  scope closes, with the event and the path.

What is not checked there is the files' final state: a non-Python write by the subprocess (a C
extension writing a file it opened itself) would go unseen, as would a difference SillyTavern
itself caused; every other root keeps the full manifest check.
"""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import sidecar
from sidecar.locations import looks_like_data_root
from tests import handsoff, handsoff_roots
from tests.handsoff_events import EVENTS, LIST_EVENTS, absolute, child_env, write_targets
from tests.handsoff_roots import roots_of_command

SIDECAR_DIR = os.path.dirname(os.path.abspath(sidecar.__file__)) + os.sep
_REPO = os.path.dirname(SIDECAR_DIR.rstrip(os.sep))
HARNESS_DIRS = (os.path.join(_REPO, "tests") + os.sep, os.path.join(_REPO, "benchmarks") + os.sep)
_SELF = {
    os.path.abspath(__file__),
    os.path.abspath(handsoff.__file__),
    os.path.abspath(absolute.__code__.co_filename),
    os.path.abspath(handsoff_roots.__file__),
}


@dataclass
class Watched:
    """A registered data root: its manifest and what the harness touched in it."""

    manifest: handsoff.Manifest
    touched: set[str] = field(default_factory=set)
    trees: set[str] = field(default_factory=set)
    child_log: Path | None = None  # SillyTavern writes here: the subprocesses' audit log instead
    log_offset: int = 0

    def child_problems(self) -> list[str]:
        """What sidecar subprocesses did in this root since the last call (each line once)."""
        if self.child_log is None or not self.child_log.exists():
            return []
        with open(self.child_log, "rb") as handle:
            handle.seek(self.log_offset)
            text = handle.read().decode("utf-8", "replace")
        complete = text[: text.rfind("\n") + 1]
        self.log_offset += len(complete.encode("utf-8"))
        return [
            f"{path}: {event} by a sidecar subprocess (pid {pid}; data root {self.manifest.root},"
            " written by SillyTavern)"
            for pid, event, path in (line.split("\t", 2) for line in complete.splitlines())
        ]

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


class Guard:
    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._local = threading.local()
        self._scopes: list[Scope] = []

    # -- scopes ----------------------------------------------------------------------------------

    def push(self, name: str) -> None:
        with self._lock:
            self._scopes.append(Scope(name))

    def problems_of(self, action: Callable[[], object]) -> list[str]:
        """What the guard reports for what ``action`` does, in a scope of its own."""
        self.push("probe")
        try:
            action()
        finally:
            problems = self.pop()
        return problems

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
                if watched.child_log is not None:
                    problems += watched.child_problems()
                    continue
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

    def written_by_sillytavern(self, root: Path, child_log: Path) -> dict[str, str]:
        """Declare ``root`` a data root that a running SillyTavern writes itself, for the rest
        of the session (see the module docstring for what is still checked there). Returns the
        environment entries to add to every ``sidecar`` subprocess pointed at it
        (``child_env``); their audit log is ``child_log``."""
        key = os.path.abspath(root)
        with self._lock:
            if not self._scopes:
                raise RuntimeError("the hands-off guard has no open scope")
            for scope in self._scopes:
                scope.roots.pop(key, None)
            manifest = handsoff.Manifest(Path(key), scanned=False)
            self._scopes[0].roots[key] = Watched(manifest, child_log=child_log)
        return child_env([Path(key)], child_log)

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
        if event in LIST_EVENTS:
            path = absolute(args[0])
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
            targets = list(write_targets(event, args))
            if targets:
                self._writing(event, targets)

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
