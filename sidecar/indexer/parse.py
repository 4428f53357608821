"""From one raw line to what the indexer stores: catalog fields and per-extension data items."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import tzinfo
from typing import Any, NamedTuple

import msgspec

from sidecar.indexer.namespaces import NamespacePolicy
from sidecar.sillytavern.jsonline import BadLine, decode_line
from sidecar.sillytavern.messages import message_info, message_namespaces

_encoder = msgspec.json.Encoder()


def encode_json(value: Any) -> str:
    return _encoder.encode(value).decode("utf-8")


class DataItem(NamedTuple):
    """One key of one namespace of one swipe; ``value`` is JSON text. (A tuple: hundreds of
    thousands are built per full index, and frozen dataclasses cost several times more.)"""

    swipe: int
    namespace: str
    key: str
    value: str
    selected: bool


@dataclass
class ParsedLine:
    """``kind`` is ``object`` (header or message), ``blank`` or ``bad`` (with ``reason``).
    ``notes`` are the repairs reading the line needed (see ``sillytavern.jsonline``)."""

    kind: str
    obj: dict[str, Any] | None = None
    reason: str | None = None
    notes: tuple[str, ...] = ()


def parse_line(line: bytes) -> ParsedLine:
    if not line.strip():
        return ParsedLine("blank")
    try:
        obj, notes = decode_line(line)
    except BadLine as exc:
        return ParsedLine("bad", reason=str(exc))
    if not isinstance(obj, dict):
        return ParsedLine("bad", reason=f"not a JSON object but {_json_type(obj)}")
    return ParsedLine("object", obj, notes=notes)


def _json_type(value: object) -> str:
    if isinstance(value, list):
        return "an array"
    if isinstance(value, str):
        return "a string"
    if value is None:
        return "null"
    return "a boolean" if isinstance(value, bool) else "a number"


# Catalog columns a message record fills, in the order of ``MessageRecord.values``.
MESSAGE_FIELDS = (
    "name",
    "is_user",
    "is_system",
    "send_date_raw",
    "send_date",
    "text",
    "swipe_id",
    "swipe_count",
    "builtin_extra",
    "namespaces",
    "problems",
)


@dataclass
class MessageRecord:
    """A message as the catalog stores it, plus its data items grouped by extension id."""

    values: tuple[Any, ...]  # MESSAGE_FIELDS, in order
    namespaces: list[str]
    problems: list[str]
    data: dict[str, list[DataItem]] = field(default_factory=dict)


def message_record(
    obj: dict[str, Any],
    policy: NamespacePolicy,
    top_level_fields: Collection[str] | None,
    tz: tzinfo | None = None,
    notes: tuple[str, ...] = (),
) -> MessageRecord:
    """``notes``: repairs made reading the line, reported with the message's own problems."""
    info = message_info(obj, tz)
    problems = [*notes, *info.problems]
    grouped: dict[str, list[DataItem]] = defaultdict(list)
    names: set[str] = set()
    for entry in message_namespaces(obj, top_level_fields):
        extension = policy.extension_for(entry.namespace)
        if extension is None:
            continue
        names.add(entry.namespace)
        grouped[extension].extend(
            DataItem(entry.swipe, entry.namespace, key, encode_json(value), entry.selected)
            for key, value in entry.data.items()
        )
    values = (
        info.name,
        info.is_user,
        info.is_system,
        info.send_date_raw,
        info.send_date,
        info.text,
        info.swipe_id,
        info.swipe_count,
        encode_json(info.builtin_extra) if info.builtin_extra else None,
        encode_json(sorted(names)),
        encode_json(problems) if problems else None,
    )
    return MessageRecord(values, sorted(names), problems, dict(grouped))
