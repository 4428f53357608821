"""Request and response bodies of the value-tracker API (camelCase on the wire)."""

from __future__ import annotations

from typing import Any

import msgspec


class _Camel(msgspec.Struct, rename="camel"):
    pass


class ErrorBody(_Camel):
    error: str


class RegisterBody(_Camel):
    extension_id: str
    db_path: str | None = None


class DeregisterBody(_Camel):
    extension_id: str


class CharacterBody(_Camel):
    id: str
    name: str | None | msgspec.UnsetType = msgspec.UNSET


class InstanceBody(_Camel):
    id: str
    character_id: str
    name: str | None | msgspec.UnsetType = msgspec.UNSET


class DataBody(_Camel):
    key: str
    value: Any


class RemoveKeysBody(_Camel):
    keys: list[str]


class PingBody(_Camel):
    message: str


class Success(_Camel):
    success: bool = True


class SuccessMessage(_Camel, kw_only=True):
    success: bool = True
    message: str


class DeletedCount(_Camel, kw_only=True):
    success: bool = True
    deleted_count: int


class RemovedCount(_Camel, kw_only=True):
    success: bool = True
    removed_count: int


class DataSaved(_Camel, kw_only=True):
    success: bool = True
    key: str
    value: Any


class ExtensionInfo(_Camel):
    extension_id: str
    registered: bool
    created_at: str
    characters: int
    instances: int
    data_keys: int


class Pong(_Camel):
    message: str
