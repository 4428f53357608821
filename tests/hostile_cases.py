"""Hostile chat files: how each one is made in a SillyTavern-style data root and what indexing it
must give. Every file holds good messages (``extra.ext.n`` set) around its bad lines.

Expected semantics follow SillyTavern, which reads a chat as UTF-8 text (invalid bytes become
U+FFFD) and gives each line to ``JSON.parse`` (NaN/Infinity are errors, the last duplicate key
wins, a lone ``\\ud83d`` escape or ``1e999`` are fine), and the spec: a bad line is reported with
its line number and the rest of the file is indexed.
"""

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


def _big_line(path: Path) -> None:
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


def _directory(path: Path) -> None:
    path.mkdir(parents=True)
    st_save(path / "inside.jsonl", joined(HEADER, good(1)))


def _fifo(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    os.mkfifo(path)
    handsoff.wrote(path)


def _symlink_loop(path: Path) -> None:
    """``<chat>.jsonl -> <chat>-b.jsonl -> <chat>.jsonl``."""
    other = path.with_name(path.stem + "-b.jsonl")
    path.parent.mkdir(parents=True, exist_ok=True)
    os.symlink(other.name, path)
    os.symlink(path.name, other)
    handsoff.wrote(path)
    handsoff.wrote(other)


def _folder_loops(path: Path) -> None:
    """A good chat in a folder holding a link to itself, and ``chats/`` holding one to its
    parent: a walker that follows them never ends (2**40 paths for two links)."""
    st_save(path, joined(HEADER, good(1), good(2)))
    folder = path.parent
    for link, target in ((folder / f"{path.stem}-self", "."), (folder.parent / "up", "..")):
        if not link.is_symlink():
            os.symlink(target, link)
            handsoff.wrote(link)


def _not_utf8_name(path: Path) -> None:
    """A chat whose file name is not UTF-8 (SillyTavern cannot open it either)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    name = os.fsencode(path.parent) + b"/" + os.fsencode(path.stem) + b"-\xff\xfe.jsonl"
    with open(name, "wb") as handle:
        handle.write(joined(HEADER, good(1)))
    handsoff.wrote(Path(os.fsdecode(name)))


def _wrong_types() -> bytes:
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


def _odd_swipe_ids() -> bytes:
    lines = [HEADER]
    for number, swipe_id in enumerate([5, -1, 1.5, 1.0, "1", True], start=2):
        obj = message(f"m{number}", extra={"ext": {"n": number}}, swipes=["a", "b"])
        obj["swipe_id"] = swipe_id
        obj["swipe_info"] = [{"extra": {"ext": {"n": 0}}}, {"extra": {"ext": {"n": 1}}}]
        lines.append(dumps(obj).encode())
    return joined(*lines)


def _deep(open_: bytes, close: bytes, depth: int = DEEP) -> bytes:
    """``depth`` containers, one inside the other; objects end with a ``1`` innermost."""
    return open_ * depth + (b"1" if open_.endswith(b":") else b"") + close * depth


CASES: list[Case] = [
    Case(
        "truncated_last_line",
        saved(joined(HEADER, good(1), good(2), b'{"name":"Seraphina","mes":"cut off in the mid')),
        (("good 1", 1), ("good 2", 2)),
        ((4, "invalid JSON"),),
    ),
    Case(
        "invalid_utf8",
        saved(
            joined(
                HEADER,
                good(1),
                b'{"name":"Seraphina","mes":"caf\xe9 \xff!","extra":{"ext":{"n":2}}}',
                b'{"name":"Seraphina",\xff"mes":"x"}',
                good(4),
            )
        ),
        (("good 1", 1), ("caf\ufffd \ufffd!", 2), ("good 4", 4)),
        ((3, "invalid UTF-8"), (4, "invalid JSON")),
    ),
    Case(
        "utf8_bom",
        saved(b"\xef\xbb\xbf" + joined(HEADER, good(1), b"\xef\xbb\xbf" + good(2), good(3))),
        (("good 1", 1), ("good 3", 3)),
        ((3, "invalid JSON"),),  # a BOM inside the file is not JSON whitespace
    ),
    Case(
        "crlf_line_ends",
        saved(joined(HEADER, good(1), b"", good(2), b"", newline=b"\r\n")),
        (("good 1", 1), ("good 2", 2)),
    ),
    Case(
        "nul_bytes",
        saved(
            joined(
                HEADER,
                good(1),
                b'{"name":"Seraphina","mes":"a\x00b"}',
                b"\x00" * 64,
                b'{"name":"Seraphina","mes":"esc\\u0000aped","extra":{"ext":{"n":5}}}',
                good(6),
            )
        ),
        (("good 1", 1), ("esc\x00aped", 5), ("good 6", 6)),
        ((3, "invalid JSON"), (4, "invalid JSON")),
    ),
    Case(
        "line_of_50_mb",
        _big_line,
        (("good 1", 1), (Big("lorem lorem ", BIG_LINE_BYTES // 6 * 6), 2), ("good 3", 3)),
        appendable=False,
    ),
    Case(
        "nesting_100000_deep_line",
        saved(joined(HEADER, good(1), _deep(b"[", b"]"), _deep(b'{"a":', b"}"), good(4))),
        (("good 1", 1), ("good 4", 4)),
        ((3, "nested deeper than 512"), (4, "nested deeper than 512")),
    ),
    Case(
        "nesting_100000_deep_in_extra",
        saved(
            joined(
                HEADER,
                good(1),
                b'{"name":"S","mes":"deep","extra":{"ext":{"n":' + _deep(b"[", b"]") + b"}}}",
                # Just under msgspec's own limit: read, but once failed to be encoded again.
                b'{"name":"S","mes":"deep tracker","tracker":' + _deep(b"[", b"]", 992) + b"}",
                b'{"name":"S","mes":"513 deep","extra":{"ext":{"n":5,"v":'
                + _deep(b"[", b"]", 510)
                + b"}}}",
                b'{"name":"S","mes":"512 deep","extra":{"ext":{"n":6,"v":'
                + _deep(b"[", b"]", 509)
                + b"}}}",
                good(7),
            )
        ),
        (("good 1", 1), ("512 deep", 6), ("good 7", 7)),
        ((3, "nested deeper than 512"), (4, "nested deeper than 512"), (5, "nested deeper")),
    ),
    Case(
        "nan_and_infinity",
        saved(
            joined(
                HEADER,
                good(1),
                b'{"name":"S","mes":"a","extra":{"ext":{"n":NaN}}}',
                b'{"name":"S","mes":Infinity}',
                b'{"name":"S","mes":"b","extra":{"ext":{"n":-Infinity}}}',
                good(6),
            )
        ),
        (("good 1", 1), ("good 6", 6)),
        ((3, "NaN is not a JSON value"), (4, "Infinity is not"), (5, "-Infinity is not")),
    ),
    Case(
        "duplicate_keys",
        saved(
            joined(
                HEADER,
                good(1),
                b'{"name":"S","mes":"first","mes":"last","extra":{"ext":{"n":0}},"extra":{"ext":{"n":3}}}',
                good(4),
            )
        ),
        (("good 1", 1), ("last", 3), ("good 4", 4)),  # JSON.parse keeps the last
    ),
    Case(
        "lines_that_are_not_objects",
        saved(joined(HEADER, good(1), "[1,2]", "42", '"text"', "null", "true", "false", good(9))),
        (("good 1", 1), ("good 9", 9)),
        (
            (3, "an array"),
            (4, "a number"),
            (5, "a string"),
            (6, "null"),
            (7, "a boolean"),
            (8, "a boolean"),
        ),
    ),
    Case(
        "swipes_swipe_info_extra_of_wrong_type",
        saved(_wrong_types()),
        (
            ("m2", 2),
            ("m3", 3),
            ("m4", 4),
            ("m5", 5),
            ("m6", 6),
            ("m7", 7),
            ("m8", None),
            ("m9", None),
            ("m10", None),
            ("m11", None),
        ),
        (
            (2, "swipes is not a list"),
            (3, "swipes is not a list"),
            (5, "swipe_info is not a list"),
            (6, "swipe_info is not a list"),
            (8, "extra is not an object"),
            (9, "extra is not an object"),
            (10, "extra is not an object"),
        ),
    ),
    Case(
        "swipe_id_out_of_range_negative_float_string_bool",
        saved(_odd_swipe_ids()),
        tuple((f"m{n}", n) for n in range(2, 8)),  # swipe 0, message.extra: kept and reported
        (
            (2, "swipe_id 5 is out of range"),
            (3, "swipe_id -1 is out of range"),
            (4, "swipe_id 1.5 is not an integer"),
            # m5's swipe_id 1.0 is swipe 1, as JSON.parse reads it: no problem
            (6, "swipe_id 1 is not an integer"),
            (7, "swipe_id true is not an integer"),
        ),
    ),
    Case("zero_byte_file", saved(b"")),
    Case("header_only", saved(HEADER)),
    Case(
        "header_that_is_not_an_object",
        saved(joined('"the header"', good(1), good(2))),
        (("good 1", 1), ("good 2", 2)),
        ((1, "a string"),),
    ),
    Case(
        "header_with_chat_metadata_not_an_object",
        saved(joined(dumps({"chat_metadata": "oops", "user_name": "u"}), good(1))),
        (("good 1", 1),),
        ((1, "chat_metadata is not an object"),),
    ),
    Case(
        "lone_surrogate_and_huge_number",
        saved(
            joined(
                HEADER,
                good(1),
                b'{"name":"S","mes":"cut \\ud83d","extra":{"ext":{"n":2,"big":1e999}}}',
                good(3),
            )
        ),
        (("good 1", 1), ("cut \ufffd", 2), ("good 3", 3)),
        ((3, "lone UTF-16 surrogate"), (3, "too large for a double")),
    ),
    Case("directory_named_like_a_chat", _directory, indexed=False),
    Case("fifo_named_like_a_chat", _fifo, indexed=False),
    Case(
        "symlink_loop",
        _symlink_loop,
        indexed=False,
        file_problem="Too many levels of symbolic links",
        extra_paths=("symlink_loop-b.jsonl",),
    ),
    Case("folder_symlink_loops", _folder_loops, (("good 1", 1), ("good 2", 2))),
    Case("file_name_not_utf8", _not_utf8_name, indexed=False),
]


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
