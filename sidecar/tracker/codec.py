"""JSON values as stored: the exact JSON text, so every value keeps its JSON type.

Reads hand the stored text back as ``msgspec.Raw`` so it is spliced into the response without being
decoded and encoded again.
"""

from __future__ import annotations

from typing import Any

import msgspec

_encoder = msgspec.json.Encoder()


def encode(value: Any) -> str:
    return _encoder.encode(value).decode("utf-8")


def raw(text: str) -> msgspec.Raw:
    return msgspec.Raw(text.encode("utf-8"))


def decode(text: str) -> Any:
    return msgspec.json.decode(text)


def deep_merge(base: Any, patch: Any) -> Any:
    """Merge ``patch`` into ``base``: objects merge key by key, recursively; anything else in
    ``patch`` (arrays, scalars, null) replaces what was there."""
    if not isinstance(base, dict) or not isinstance(patch, dict):
        return patch
    merged = dict(base)
    for key, value in patch.items():
        merged[key] = deep_merge(merged[key], value) if key in merged else value
    return merged
