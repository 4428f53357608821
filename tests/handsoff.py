"""Proof that sidecar leaves SillyTavern's files alone: a manifest of a data root.

A ``Manifest`` records every entry under a data root (files: sha256, size, mode, owner, inode,
mtime and ctime; directories: mode and owner; symlinks: their target, never followed) and
``differences()`` lists every path added, removed or changed since. Writes the harness makes
itself (a test's or a benchmark's SillyTavern-style save) are announced with ``wrote(path)``,
which updates the expectation for that path, so only writes by something else (sidecar) show up.
A file the harness rewrote is expected by its identity only, not hashed again (a benchmark
rewriting a 20 MB chat must not pay for it in its timings): inode, size, mtime and ctime. The
kernel sets ctime on every change of content or metadata, and nothing in user space can set it,
so any later write, chmod, touch or rename-over by sidecar still shows.

Used by the test suite (``tests/handsoff_guard.py`` registers every data root a test uses) and by
the benchmarks::

    manifest = handsoff.track(handsoff.Manifest(root))   # after generating the data root
    ...                                                  # saves call handsoff.wrote(path)
    ok = handsoff.check(manifest)   # prints "SillyTavern files unchanged: N files verified"

Only the standard library: benchmarks import this module too.
"""

from __future__ import annotations

import hashlib
import os
import stat
from collections.abc import Callable
from dataclasses import dataclass, fields, replace
from pathlib import Path

WriteListener = Callable[[Path], None]
_write_listeners: list[WriteListener] = []
_root_listeners: list[WriteListener] = []


@dataclass(frozen=True)
class Entry:
    """One path's state. ``digest`` is a file's sha256 (None: not hashed, compare the rest) or a
    symlink's target."""

    kind: str  # file | dir | link | other (fifo, socket, device: never opened)
    mode: int
    uid: int
    gid: int
    size: int = 0
    inode: int = 0
    mtime_ns: int = 0
    ctime_ns: int = 0
    digest: str | None = ""

    def matches(self, actual: Entry) -> bool:
        if self.digest is None:
            return self == replace(actual, digest=None)
        return self == actual


def _digest(path: str) -> str:
    try:
        with open(path, "rb") as handle:
            return hashlib.file_digest(handle, "sha256").hexdigest()
    except OSError as exc:  # unreadable: the error is the state (it must not change either)
        return f"unreadable ({exc.strerror})"


def entry_of(path: str, hashed: bool = True) -> Entry | None:
    """The state of ``path`` (not following a symlink), or None when it does not exist."""
    try:
        info = os.lstat(path)
    except (FileNotFoundError, NotADirectoryError):
        return None
    kind = (
        "dir" if stat.S_ISDIR(info.st_mode)
        else "link" if stat.S_ISLNK(info.st_mode)
        else "file" if stat.S_ISREG(info.st_mode)
        else "other"
    )  # fmt: skip
    entry = Entry(kind, info.st_mode, info.st_uid, info.st_gid, inode=info.st_ino)
    if kind == "link":
        return replace(entry, digest=os.readlink(path))
    if kind != "file":  # a folder has no times: they move whenever an entry comes or goes
        return entry
    digest = _digest(path) if hashed else None
    return replace(entry, size=info.st_size, mtime_ns=info.st_mtime_ns,
                   ctime_ns=info.st_ctime_ns, digest=digest)  # fmt: skip


def scan(top: str, hashed: bool = True) -> dict[str, Entry]:
    """Every entry under ``top`` (included), keyed by absolute path."""
    entries: dict[str, Entry] = {}
    pending = [top]
    while pending:
        path = pending.pop()
        entry = entry_of(path, hashed)
        if entry is None:
            continue
        entries[path] = entry
        if entry.kind == "dir":
            try:
                with os.scandir(path) as children:
                    pending.extend(child.path for child in children)
            except OSError:  # an unreadable folder: its own entry is still recorded
                pass
    return entries


def _describe(before: Entry, after: Entry) -> str:
    changed = [f.name for f in fields(Entry) if getattr(before, f.name) != getattr(after, f.name)]
    if before.digest is None:
        changed.remove("digest")
    return ", ".join("content" if name == "digest" else name for name in changed)


class Manifest:
    """The expected state of everything under ``root``."""

    def __init__(self, root: Path, scanned: bool = True) -> None:
        """``scanned=False``: only the root's extent (``covers``), for a root whose content is
        not held to a manifest (one SillyTavern writes itself: see ``handsoff_guard``)."""
        self.root = os.path.abspath(root)
        self.expected = scan(self.root) if scanned else {}

    def covers(self, path: str) -> bool:
        return path == self.root or path.startswith(self.root + os.sep)

    @property
    def files(self) -> int:
        return sum(entry.kind == "file" for entry in self.expected.values())

    def expect(self, path: Path | str) -> None:
        """The harness changed ``path`` (and may have created folders above it): what is there
        now is what is expected from now on. Outside the root it does nothing."""
        target = os.path.abspath(path)
        if not self.covers(target):
            return
        for stale in [p for p in self.expected if p == target or p.startswith(target + os.sep)]:
            del self.expected[stale]
        self.expected.update(scan(target, hashed=False))
        parent = os.path.dirname(target)
        while self.covers(parent) and parent != target:
            entry = entry_of(parent)
            if entry is not None:
                self.expected[parent] = entry
            target, parent = parent, os.path.dirname(parent)

    def differences(self) -> list[tuple[str, str]]:
        """(path, what) for every path that is not as expected, sorted by path."""
        actual = scan(self.root)
        found = []
        for path in sorted(self.expected.keys() | actual.keys()):
            before, after = self.expected.get(path), actual.get(path)
            if before is not None and after is not None and before.matches(after):
                continue
            if before is None:
                found.append((path, "added"))
            elif after is None:
                found.append((path, "removed"))
            else:
                found.append((path, f"changed: {_describe(before, after)}"))
        return found


# -- announcements from the harness -------------------------------------------------------------


def wrote(path: Path) -> None:
    """The harness (a test or a benchmark, never sidecar) has just written, replaced, removed or
    renamed ``path``."""
    for listener in list(_write_listeners):
        listener(path)


def using_root(root: Path) -> None:
    """A test helper is about to point sidecar at ``root``: snapshot it now."""
    for listener in list(_root_listeners):
        listener(root)


def listen(on_write: WriteListener, on_root: WriteListener | None = None) -> None:
    _write_listeners.append(on_write)
    if on_root is not None:
        _root_listeners.append(on_root)


def track(manifest: Manifest) -> Manifest:
    """Keep ``manifest`` up to date with the harness's own writes (``wrote``)."""
    listen(manifest.expect)
    return manifest


def untrack(manifest: Manifest) -> None:
    _write_listeners.remove(manifest.expect)


def check(*manifests: Manifest) -> bool:
    """Print the verdict for a benchmark: every file unchanged, or every difference."""
    problems = [f"  {path}: {what}" for m in manifests for path, what in m.differences()]
    files = sum(m.files for m in manifests)
    if problems:
        print(f"SillyTavern files CHANGED by sidecar ({len(problems)} paths):", *problems, sep="\n")
        return False
    print(f"SillyTavern files unchanged: {files} files verified")
    return True
