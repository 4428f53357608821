"""Reading one hostile JSONL line: read as ``JSON.parse`` reads it, refused when it would refuse,
a nesting limit independent of the stack, and FIFOs never held open."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import msgspec
import pytest

from sidecar.sillytavern.chatfile import ChatFile
from sidecar.sillytavern.jsonline import MAX_DEPTH, TOO_DEEP, BadLine, decode_line
from tests.hostile_checks import (
    within,
)

pytestmark = pytest.mark.filterwarnings(
    "ignore:Callback with id .* already exists for watch:RuntimeWarning"
)


# -- reading one line -------------------------------------------------------------------------


def _nested(depth: int) -> bytes:
    return b'{"v":' + b"[" * (depth - 1) + b"]" * (depth - 1) + b"}"


@pytest.mark.parametrize(
    ("line", "value", "notes"),
    [
        (b'{"a":1,"a":2}', {"a": 2}, ()),
        (b'{"s":"caf\xc3\xa9"}', {"s": "caf\u00e9"}, ()),
        (b'{"s":"\xff"}', {"s": "\ufffd"}, ("invalid UTF-8",)),
        (b'{"s":"\\ud83d\\ude00 \\udc00"}', {"s": "\U0001f600 \ufffd"}, ("lone UTF-16",)),
        (b'{"\\ud800":1}', {"\ufffd": 1}, ("lone UTF-16",)),
        (b'{"n":[1e999,-1e999,1]}', {"n": [None, None, 1]}, ("too large for a double",)),
        (b'{"n":123456789012345678901234567890}', {"n": 123456789012345678901234567890}, ()),
        (b'{"s":"\\u0000"}', {"s": "\x00"}, ()),
    ],
)
def test_a_line_is_read_as_json_parse_reads_it(
    line: bytes, value: Any, notes: tuple[str, ...]
) -> None:
    got, got_notes = decode_line(line)
    assert got == value
    assert len(got_notes) == len(notes)
    assert all(part in note for part, note in zip(notes, got_notes, strict=True))


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        (b'{"a":NaN}', "invalid JSON: NaN is not a JSON value"),
        (b"Infinity", "invalid JSON: Infinity is not a JSON value"),
        (b'{"a":1', "invalid JSON: "),
        (b'{"a":"x\x00"}', "invalid JSON: "),
        (b'{"a":\xff1}', "invalid JSON: "),
        (_nested(MAX_DEPTH + 1), TOO_DEEP),
        (b"[" * 100_000 + b"]" * 100_000, TOO_DEEP),
    ],
)
def test_a_line_json_parse_refuses_is_bad(line: bytes, reason: str) -> None:
    with pytest.raises(BadLine) as error:
        decode_line(line)
    assert str(error.value).startswith(reason)


def test_nesting_limit_does_not_depend_on_the_callers_stack() -> None:
    """Whatever was read can be encoded again, even from a much deeper stack (the indexer once
    read a 992-deep value and then failed to encode it: RecursionError, file not indexed)."""
    value, _ = decode_line(_nested(MAX_DEPTH))

    def deep(levels: int) -> bytes:
        return msgspec.json.encode(value) if levels == 0 else deep(levels - 1)

    assert deep(300) == _nested(MAX_DEPTH)


def test_fifo_is_never_opened_for_long(tmp_path: Path) -> None:
    fifo = tmp_path / "st" / "x.jsonl"
    fifo.parent.mkdir()
    os.mkfifo(fifo)
    with pytest.raises(OSError, match="not a regular file"):
        within(10, lambda: ChatFile(fifo))
