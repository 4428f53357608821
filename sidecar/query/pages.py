"""Pagination shared by every list: ``{"items": [...], "nextCursor": str | None}``.

A cursor is the sort key of the last item returned, JSON-encoded and base64url'd: opaque to
clients, stable across inserts (keyset pagination, no OFFSET).
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence
from typing import Any

import msgspec

from sidecar.errors import InvalidInput

DEFAULT_LIMIT = 100
MAX_LIMIT = 1000


class Page(msgspec.Struct, rename="camel"):
    items: list[Any]
    next_cursor: str | None


def check_limit(limit: int | None) -> int:
    if limit is None:
        return DEFAULT_LIMIT
    if not 1 <= limit <= MAX_LIMIT:
        raise InvalidInput(f"limit must be between 1 and {MAX_LIMIT}")
    return limit


def encode_cursor(key: Sequence[Any]) -> str:
    return base64.urlsafe_b64encode(msgspec.json.encode(list(key))).decode().rstrip("=")


def decode_cursor(cursor: str | None, size: int) -> list[Any] | None:
    """The sort key a cursor carries; 400 for anything that is not one of ours."""
    if cursor is None:
        return None
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        key = msgspec.json.decode(base64.urlsafe_b64decode(padded.encode()))
    except (binascii.Error, ValueError, msgspec.DecodeError):
        raise InvalidInput("Invalid cursor") from None
    if not isinstance(key, list) or len(key) != size or not all(map(_bindable, key)):
        raise InvalidInput("Invalid cursor")
    return key


def _bindable(value: Any) -> bool:
    """A sort key value SQLite can bind (a forged cursor may hold anything, e.g. 10**30)."""
    if isinstance(value, int):
        return -(2**63) <= value < 2**63
    return value is None or isinstance(value, str | float)


def page_of(rows: list[Any], limit: int, key_of: Any) -> tuple[list[Any], str | None]:
    """``rows`` fetched with ``limit + 1``: the first ``limit`` and the cursor for the rest."""
    if len(rows) <= limit:
        return rows, None
    kept = rows[:limit]
    return kept, encode_cursor(key_of(kept[-1]))
