"""One line of a chat file read the way SillyTavern reads it, and made safe to store.

SillyTavern's server reads a chat as UTF-8 text (Node turns invalid bytes into U+FFFD) and gives
each line to ``JSON.parse``. msgspec reads nearly every line; the few it refuses that JSON.parse
accepts are read again with the standard library: invalid UTF-8, a lone UTF-16 surrogate escape
(``"\\ud83d"``, left by an extension cutting a string in the middle of an emoji) and a number
beyond a double (``1e999``). What cannot be stored is then replaced as SillyTavern would write it
back: a lone surrogate by U+FFFD, an infinite number by ``null`` (``JSON.stringify(Infinity)``).
Each such repair is a note the caller reports. ``NaN`` and ``Infinity`` literals stay invalid, as
they are for JSON.parse.

Nesting is limited to :data:`MAX_DEPTH` levels, the same whatever the caller's stack depth, so
a value that was read can always be encoded again (msgspec's own limit is Python's recursion
limit minus the frames already on the stack).
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

import msgspec

MAX_DEPTH = 512
TOO_DEEP = f"nested deeper than {MAX_DEPTH} levels"
INVALID_UTF8 = "invalid UTF-8 bytes, read as U+FFFD (as SillyTavern reads them)"
LONE_SURROGATE = "a lone UTF-16 surrogate (\\ud800-\\udfff) in a string, read as U+FFFD"
INFINITE_NUMBER = "a number too large for a double, read as null (as SillyTavern saves it)"

_decoder = msgspec.json.Decoder()
_SURROGATE = re.compile("[\ud800-\udfff]")


class BadLine(ValueError):
    """The line is not a JSON value JSON.parse would accept; ``str(error)`` says why."""


class _Constant(ValueError):
    pass


def decode_line(line: bytes) -> tuple[Any, tuple[str, ...]]:
    """The JSON value of ``line`` and the repairs made to read it; raises :class:`BadLine`."""
    try:
        value: Any = _decoder.decode(line)
        notes: tuple[str, ...] = ()
    except RecursionError:
        raise BadLine(TOO_DEEP) from None
    except (msgspec.DecodeError, UnicodeDecodeError) as error:
        value, notes = _like_json_parse(line, error)
    if _deeper_than(value, line):
        raise BadLine(TOO_DEEP)
    return value, notes


def _like_json_parse(line: bytes, first: Exception) -> tuple[Any, tuple[str, ...]]:
    notes: list[str] = []
    try:
        text = line.decode("utf-8")
    except UnicodeDecodeError:
        text = line.decode("utf-8", "replace")
        notes.append(INVALID_UTF8)
    try:
        value = json.loads(text, parse_constant=_reject_constant)
    except _Constant as error:
        raise BadLine(f"invalid JSON: {error}") from None
    except RecursionError:
        raise BadLine(TOO_DEEP) from None
    except ValueError as error:
        # msgspec says where the syntax breaks in bytes; its message about UTF-8 says nothing
        # about the syntax, so then the standard library's is given.
        shown = error if isinstance(first, UnicodeDecodeError) else first
        raise BadLine(f"invalid JSON: {shown}") from None
    notes.extend(_make_storable(value))
    return value, tuple(notes)


def _reject_constant(name: str) -> Any:
    raise _Constant(f"{name} is not a JSON value (JSON.parse rejects it)")


def _make_storable(root: Any) -> list[str]:
    """Replace, in place, lone surrogates (SQLite and UTF-8 cannot hold them) by U+FFFD and
    infinite floats by None. Iterative: the value may be nested hundreds of levels deep."""
    found: set[str] = set()
    if not isinstance(root, dict | list):
        return []
    pending: list[Any] = [root]
    while pending:
        node = pending.pop()
        if isinstance(node, dict) and any(_SURROGATE.search(key) for key in node):
            found.add(LONE_SURROGATE)
            fixed = {_SURROGATE.sub("\ufffd", key): item for key, item in node.items()}
            node.clear()
            node.update(fixed)
        entries = node.items() if isinstance(node, dict) else enumerate(node)
        replaced: list[tuple[Any, Any]] = []
        for key, item in entries:
            if isinstance(item, str):
                if _SURROGATE.search(item):
                    found.add(LONE_SURROGATE)
                    replaced.append((key, _SURROGATE.sub("\ufffd", item)))
            elif isinstance(item, float):
                if math.isinf(item):
                    found.add(INFINITE_NUMBER)
                    replaced.append((key, None))
            elif isinstance(item, dict | list):
                pending.append(item)
        for key, item in replaced:
            node[key] = item
    return sorted(found)


def _deeper_than(value: Any, line: bytes, limit: int = MAX_DEPTH) -> bool:
    """Is ``value`` nested more than ``limit`` levels deep? Free for almost every line: a line
    with at most ``limit`` opening brackets cannot be."""
    if line.count(b"[") + line.count(b"{") <= limit:
        return False
    pending: list[tuple[Any, int]] = [(value, 1)]
    while pending:
        node, depth = pending.pop()
        if not isinstance(node, dict | list):
            continue
        if depth > limit:
            return True
        for item in node.values() if isinstance(node, dict) else node:
            if isinstance(item, dict | list):
                pending.append((item, depth + 1))
    return False
