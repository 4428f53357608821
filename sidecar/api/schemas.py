"""Request and response bodies of the value-tracker API (camelCase on the wire)."""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from litestar.openapi import ResponseSpec
from litestar.params import PathParameter

# Integers that handlers bind into SQLite: beyond 64 bits they overflowed there (a 500).
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
PathInt = Annotated[int, PathParameter(ge=INT64_MIN, le=INT64_MAX)]


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
    name: str | msgspec.UnsetType | None = msgspec.UNSET


class InstanceBody(_Camel):
    id: str
    character_id: str
    name: str | msgspec.UnsetType | None = msgspec.UNSET


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


class ExtensionInfo(_Camel, omit_defaults=True):
    extension_id: str
    registered: bool
    created_at: str
    characters: int
    instances: int
    data_keys: int
    # null, or what is wrong with its database file (damaged, missing): its routes answer 503
    problem: str | None = None


class Pong(_Camel):
    message: str


def _error(description: str) -> ResponseSpec:
    return ResponseSpec(ErrorBody, description=description, generate_examples=False)


ERROR_RESPONSES: dict[int, ResponseSpec] = {
    400: _error("Invalid header, id, parameter or body"),
    401: _error("Missing or wrong bearer token (only when api.token is set)"),
    404: _error("Extension not registered, or character/instance/key not found"),
    409: _error("Conflicts with stored data (instance of another character, dbPath in use)"),
    413: _error("Request body over api.max_body_bytes"),
    500: _error("A bug in sidecar; details are in its log"),
}
# Only for operations that read a JSON body.
BODY_ERROR_RESPONSES: dict[int, ResponseSpec] = {
    **ERROR_RESPONSES,
    415: _error("The body is not sent as Content-Type: application/json"),
}
