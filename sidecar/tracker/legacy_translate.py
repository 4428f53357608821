"""Rows of the old plugin's database as sidecar rows, and what could not be carried over.

Values: the plugin stored ``typeof v === 'object' ? JSON.stringify(v) : String(v)`` and served
``JSON.parse(text)``, falling back to the text itself. Importing ``json.loads(text)`` (strict like
``JSON.parse``: no ``NaN``/``Infinity``), else the text as a string, serves what the plugin served.
The plugin had already lost the difference between ``"10"`` and ``10`` (both were stored as
``10``); nothing can bring it back. Timestamps become ISO 8601 UTC with milliseconds; missing or
unreadable ones become the import time and are counted.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache

from sidecar.ids import MAX_KEY_LENGTH, is_valid_id
from sidecar.tracker.codec import encode
from sidecar.tracker.legacy_read import BadText, LegacyDump, OldData, OldInstance

INVALID_ID = "invalid id (ids must match ^[A-Za-z0-9_-]{1,128}$)"


def show(value: object) -> str:
    """A cell as the report shows it: JSON-quoted text, or what it is."""
    if isinstance(value, BadText):
        return "<text that is not UTF-8>"
    if value is None:
        return "NULL"
    if isinstance(value, bytes):
        return f"<{len(value)}-byte blob>"
    text = value if isinstance(value, str) else str(value)
    return json.dumps(text if len(text) <= 80 else text[:77] + "...", ensure_ascii=False)


@dataclass(frozen=True)
class Skip:
    """One old row not imported. For data rows ``key`` is set and ``subject`` is the instance."""

    table: str  # "character", "instance" or "data"
    subject: str
    reason: str
    key: str | None = None


@dataclass(frozen=True)
class NewCharacter:
    id: str
    name: str | None
    created_at: str
    updated_at: str


@dataclass(frozen=True)
class NewInstance:
    id: str
    character_id: str
    name: str | None
    created_at: str
    updated_at: str
    orphan: bool  # its character is not in the old file


@dataclass(frozen=True)
class NewData:
    instance_id: str
    key: str
    value: str  # JSON text
    created_at: str
    updated_at: str


@dataclass
class Translation:
    characters: dict[str, NewCharacter] = field(default_factory=dict)
    instances: dict[str, NewInstance] = field(default_factory=dict)
    data: dict[str, list[NewData]] = field(default_factory=dict)  # by instance, sorted by key
    skipped: list[Skip] = field(default_factory=list)
    timestamps_defaulted: int = 0
    kept_as_text: list[str] = field(default_factory=list)  # JSON the plugin would have mangled
    names_repaired: list[str] = field(default_factory=list)


class _NotPortable(Exception):
    """Valid JSON for Python but not something the plugin's JSON.parse gave back faithfully."""


def _reject_constant(name: str) -> object:
    # NaN, Infinity, -Infinity: not JSON for JSON.parse, so the plugin served the text itself.
    raise json.JSONDecodeError(f"{name} is not JSON", name, 0)


def _finite(text: str) -> float:
    number = float(text)
    if math.isinf(number):
        raise _NotPortable(text)  # JSON.parse gives Infinity, which the plugin served as null
    return number


_DECODER = json.JSONDecoder(parse_constant=_reject_constant, parse_float=_finite)


def legacy_value(text: str) -> tuple[str, bool]:
    """The JSON text to store for an old value, and whether it had to be kept as plain text
    although it parses (a number out of range, nesting too deep, unpaired surrogates)."""
    try:
        parsed = _DECODER.decode(text)
    except json.JSONDecodeError:
        return encode(text), False  # what the plugin served: the text itself
    except (_NotPortable, ValueError, RecursionError):
        return encode(text), True
    try:
        return encode(parsed), False
    except (UnicodeEncodeError, RecursionError, OverflowError):
        return encode(text), True


def _iso(value: object) -> str | None:
    """``2025-03-01T10:20:30.123Z``, ``2025-03-01 10:20:30`` (UTC) or any ISO 8601 text as
    sidecar's timestamp; None when it is missing or not a date."""
    if not isinstance(value, str) or not value.strip():
        return None
    return _iso_text(value)


@lru_cache(maxsize=4096)  # old files repeat the same few timestamps many times
def _iso_text(value: str) -> str | None:
    try:
        when = datetime.fromisoformat(value.strip())
        when = when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)
    except (ValueError, OverflowError):
        return None
    return (
        f"{when.year:04d}-{when.month:02d}-{when.day:02d}T{when.hour:02d}:{when.minute:02d}:"
        f"{when.second:02d}.{when.microsecond // 1000:03d}Z"
    )


class _Translator:
    def __init__(self, now: str) -> None:
        self.now = now
        self.out = Translation()

    def stamp(self, value: object) -> str:
        converted = _iso(value)
        if converted is None:
            self.out.timestamps_defaulted += 1
            return self.now
        return converted

    def name(self, value: object, what: str) -> str | None:
        if value is None or isinstance(value, str):
            return value
        if isinstance(value, BadText | bytes):
            raw = value.raw if isinstance(value, BadText) else value
            self.out.names_repaired.append(what)
            return raw.decode("utf-8", errors="replace")
        return str(value)  # a number in a column without text affinity

    def skip(self, table: str, subject: object, reason: str, key: object = None) -> None:
        shown_key = None if table != "data" else show(key)
        self.out.skipped.append(Skip(table, show(subject), reason, shown_key))


def _instance_reason(row: OldInstance) -> str | None:
    if not is_valid_id(row.id):
        return INVALID_ID
    if not is_valid_id(row.character_id):
        return f"its character id {show(row.character_id)} is not a valid id"
    return None


def _data_reason(row: OldData, placed: set[str], dropped: dict[str, str]) -> str | None:
    if not is_valid_id(row.instance_id):
        return "its instance id is not a valid id"
    instance_id = str(row.instance_id)
    if instance_id in dropped:
        return f"its instance was skipped ({dropped[instance_id]})"
    if instance_id not in placed:
        return "its instance is not in the old file"
    if not isinstance(row.key, str) or not row.key:
        return "the key is empty or not text"
    if len(row.key) > MAX_KEY_LENGTH:
        return f"the key is longer than {MAX_KEY_LENGTH} characters"
    if isinstance(row.value, BadText):
        return "the value is not UTF-8 text"
    return None


def _value_text(value: object) -> str | None:
    """The old value as the plugin's JSON.parse saw it (a string), None for SQL NULL."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bytes):
        return value.decode("utf-8")  # raises for binary: caller reports it
    return repr(value) if isinstance(value, float) else str(value)


def translate(dump: LegacyDump, now: str) -> Translation:
    """Check and convert every row; rows that cannot be imported are listed in ``skipped``.
    A later row with the same id (possible only without the plugin's primary keys) wins."""
    t = _Translator(now)
    out = t.out
    for char in dump.characters:
        if not is_valid_id(char.id):
            t.skip("character", char.id, INVALID_ID)
            continue
        assert isinstance(char.id, str)
        if char.id in out.characters:
            t.skip("character", char.id, "duplicate id (the later row was imported)")
        out.characters[char.id] = NewCharacter(
            char.id,
            t.name(char.name, f"character {show(char.id)}"),
            t.stamp(char.created_at),
            t.stamp(char.updated_at),
        )
    dropped: dict[str, str] = {}
    for inst in dump.instances:
        reason = _instance_reason(inst)
        if reason is not None:
            t.skip("instance", inst.id, reason)
            if isinstance(inst.id, str):
                dropped[inst.id] = reason
            continue
        assert isinstance(inst.id, str)
        assert isinstance(inst.character_id, str)
        if inst.id in out.instances:
            t.skip("instance", inst.id, "duplicate id (the later row was imported)")
        out.instances[inst.id] = NewInstance(
            inst.id,
            inst.character_id,
            t.name(inst.name, f"instance {show(inst.id)}"),
            t.stamp(inst.created_at),
            t.stamp(inst.updated_at),
            orphan=inst.character_id not in out.characters,
        )
    for iid in out.instances:
        dropped.pop(iid, None)  # a valid later row with the same id was imported
    _translate_data(t, dump.data, dropped)
    return out


def _translate_data(t: _Translator, rows: list[OldData], dropped: dict[str, str]) -> None:
    out = t.out
    placed = set(out.instances)
    by_key: dict[tuple[str, str], NewData] = {}
    for row in rows:
        reason = _data_reason(row, placed, dropped)
        value: str | None = None
        if reason is None:
            try:
                value = _value_text(row.value)
            except UnicodeDecodeError:
                reason = "the value is binary data, not text"
        if reason is not None:
            t.skip("data", row.instance_id, reason, row.key)
            continue
        assert isinstance(row.instance_id, str)
        assert isinstance(row.key, str)
        if value is None:
            text = "null"
        else:
            text, as_text = legacy_value(value)
            if as_text:
                out.kept_as_text.append(f"instance {show(row.instance_id)} key {show(row.key)}")
        ident = (row.instance_id, row.key)
        if ident in by_key:
            t.skip("data", row.instance_id, "duplicate key (the later row was imported)", row.key)
        by_key[ident] = NewData(
            row.instance_id, row.key, text, t.stamp(row.created_at), t.stamp(row.updated_at)
        )
    # Keys in key order: the order the plugin's primary-key index gave (stable, unlike rowids).
    for (instance_id, _key), item in sorted(by_key.items()):
        out.data.setdefault(instance_id, []).append(item)
