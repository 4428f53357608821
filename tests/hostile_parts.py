"""What hostile chat files are made of: good lines, a header, the ``Case`` record, makers of odd
entries (a 50 MB line, FIFOs, symlink loops, names that are not UTF-8, deep nesting) and the
fingerprint of a data root that must not change while sidecar reads it."""

from __future__ import annotations

import hashlib
import os
import stat
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests import handsoff
from tests.st_files import dumps, header, message, st_save

HOSTILE_DIR = "default-user/chats/Seraphina"
BIG_LINE_BYTES = 50 * 1024 * 1024
DEEP = 100_000


def good(n: int) -> bytes:
    return dumps(message(f"good {n}", extra={"ext": {"n": n}})).encode()


HEADER = dumps(header(integrity="hostile")).encode()


def joined(*lines: bytes | str, newline: bytes = b"\n") -> bytes:
    return newline.join(line if isinstance(line, bytes) else line.encode() for line in lines)


@dataclass(frozen=True)
class Big:
    """An expected message text too big to spell out: its start and its length."""

    start: str
    length: int

    def matches(self, text: str | None) -> bool:
        return text is not None and len(text) == self.length and text.startswith(self.start)


@dataclass(frozen=True)
class Case:
    """``make(path)`` creates the hostile entry at ``path`` (a chat's path). ``messages`` is what
    must be indexed, in order: (text, ``extra.ext.n`` of the selected swipe or None).
    ``problems`` are (line number, part of the reason), one per reported problem. ``indexed`` is
    False when the entry is not a chat at all; ``file_problem`` is then part of the file-level
    reason a full scan gives (None: the entry is silently not a chat)."""

    id: str
    make: Callable[[Path], None]
    messages: tuple[tuple[str | Big, int | None], ...] = ()
    problems: tuple[tuple[int, str], ...] = ()
    indexed: bool = True
    file_problem: str | None = None
    appendable: bool = True  # worth re-saving with one more message (not the 50 MB one)
    extra_paths: tuple[str, ...] = field(default=())  # more entries ``make`` creates (names)


def saved(data: bytes) -> Callable[[Path], None]:
    """Save ``data`` the way SillyTavern saves (temp file renamed over the chat)."""
    return lambda path: st_save(path, data)


def big_line(path: Path) -> None:
    """A 50 MB line between good ones, saved like SillyTavern saves (temp file, rename)."""
    words = b"lorem " * (BIG_LINE_BYTES // 6)
    temp = path.with_name(path.name + ".1800000000000")
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(temp, "wb") as handle:
        handle.write(joined(HEADER, good(1), b""))
        handle.write(b'{"name":"Seraphina","mes":"' + words + b'","extra":{"ext":{"n":2}}}\n')
        handle.write(good(3))
    os.replace(temp, path)
    handsoff.wrote(path)


def directory(path: Path) -> None:
    path.mkdir(parents=True)
    st_save(path / "inside.jsonl", joined(HEADER, good(1)))


def fifo(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    os.mkfifo(path)
    handsoff.wrote(path)


def symlink_loop(path: Path) -> None:
    """``<chat>.jsonl -> <chat>-b.jsonl -> <chat>.jsonl``."""
    other = path.with_name(path.stem + "-b.jsonl")
    path.parent.mkdir(parents=True, exist_ok=True)
    os.symlink(other.name, path)
    os.symlink(path.name, other)
    handsoff.wrote(path)
    handsoff.wrote(other)


def folder_loops(path: Path) -> None:
    """A good chat in a folder holding a link to itself, and ``chats/`` holding one to its
    parent: a walker that follows them never ends (2**40 paths for two links)."""
    st_save(path, joined(HEADER, good(1), good(2)))
    folder = path.parent
    for link, target in ((folder / f"{path.stem}-self", "."), (folder.parent / "up", "..")):
        if not link.is_symlink():
            os.symlink(target, link)
            handsoff.wrote(link)


def not_utf8_name(path: Path) -> None:
    """A chat whose file name is not UTF-8 (SillyTavern cannot open it either)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    name = os.fsencode(path.parent) + b"/" + os.fsencode(path.stem) + b"-\xff\xfe.jsonl"
    with open(name, "wb") as handle:
        handle.write(joined(HEADER, good(1)))
    handsoff.wrote(Path(os.fsdecode(name)))


def wrong_types() -> bytes:
    lines = [HEADER]
    shapes: list[dict[str, Any]] = [
        {"swipes": "one"}, {"swipes": 7}, {"swipes": None},
        {"swipes": ["a", "b", "c"], "swipe_info": "x"}, {"swipes": ["a"], "swipe_info": 5},
        {"swipes": ["a", "b", "c"], "swipe_info": [None, "x", 3]},
    ]  # fmt: skip
    for number, shape in enumerate(shapes, start=2):
        lines.append(dumps(message(f"m{number}", extra={"ext": {"n": number}}, **shape)).encode())
    for number, extra in enumerate(["text", 12, [1, 2], None], start=len(shapes) + 2):
        obj = message(f"m{number}")
        obj["extra"] = extra
        lines.append(dumps(obj).encode())
    return joined(*lines)


def odd_swipe_ids() -> bytes:
    lines = [HEADER]
    for number, swipe_id in enumerate([5, -1, 1.5, 1.0, "1", True], start=2):
        obj = message(f"m{number}", extra={"ext": {"n": number}}, swipes=["a", "b"])
        obj["swipe_id"] = swipe_id
        obj["swipe_info"] = [{"extra": {"ext": {"n": 0}}}, {"extra": {"ext": {"n": 1}}}]
        lines.append(dumps(obj).encode())
    return joined(*lines)


def deep(open_: bytes, close: bytes, depth: int = DEEP) -> bytes:
    """``depth`` containers, one inside the other; objects end with a ``1`` innermost."""
    return open_ * depth + (b"1" if open_.endswith(b":") else b"") + close * depth


def fingerprint(root: Path) -> dict[bytes, tuple[object, ...]]:
    """Every entry under ``root``, symlinks not followed, files hashed (never a FIFO opened):
    what must not change while sidecar reads them."""
    found: dict[bytes, tuple[object, ...]] = {}
    pending = [os.fsencode(root)]
    while pending:
        path = pending.pop()
        info = os.lstat(path)
        digest = None
        if stat.S_ISREG(info.st_mode) and info.st_mode & 0o444:
            with open(path, "rb") as handle:
                digest = hashlib.file_digest(handle, "sha256").hexdigest()
        found[path] = (info.st_mode, info.st_size, info.st_ino, info.st_mtime_ns, digest)
        if stat.S_ISDIR(info.st_mode):
            pending.extend(os.path.join(path, name) for name in os.listdir(path))
    return found
