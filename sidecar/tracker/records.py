"""The shapes the value-tracker contract returns (camelCase on the wire)."""

from __future__ import annotations

from typing import Any

import msgspec


class Character(msgspec.Struct, rename="camel"):
    id: str
    name: str | None
    created_at: str
    updated_at: str


class Instance(msgspec.Struct, rename="camel"):
    id: str
    character_id: str
    name: str | None
    created_at: str
    updated_at: str


class FullInstance(msgspec.Struct):
    instance: Instance
    data: dict[str, Any]


class FullCharacter(msgspec.Struct):
    character: Character
    instances: list[FullInstance]


class ExtensionStats(msgspec.Struct):
    characters: int
    instances: int
    data_keys: int
