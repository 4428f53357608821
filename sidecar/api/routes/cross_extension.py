"""Read-only access to any registered extension's data, without ``x-extension-id``."""

from __future__ import annotations

from typing import Any

from litestar import HttpMethod, Request, Router, route
from litestar.exceptions import MethodNotAllowedException, NotFoundException
from litestar.params import FromPath

from sidecar.api.deps import extension_db_by_id
from sidecar.api.operation import GET, operation
from sidecar.api.routes.data import key_from_path, raw_key
from sidecar.ids import check_id
from sidecar.tracker import data as store
from sidecar.tracker import entities
from sidecar.tracker.records import Character, FullCharacter, FullInstance, Instance

# Reads with string parameters only: they look the database up themselves, like the other
# reads (see sidecar.api.deps.extension_db).
Req = Request[Any, Any, Any]
CHARS = "/characters/{extension_id:str}"
INSTS = "/instances/{extension_id:str}/{instance_id:str}"


@operation(GET, CHARS, "crossListCharacters")
def characters(request: Req, extension_id: FromPath[str]) -> list[Character]:
    return entities.list_characters(extension_db_by_id(request, extension_id))


@operation(GET, CHARS + "/{character_id:str}", "crossGetCharacter")
def character(
    request: Req,
    extension_id: FromPath[str],
    character_id: FromPath[str],
) -> FullCharacter:
    db = extension_db_by_id(request, extension_id)
    return entities.full_character(db, check_id(character_id, "character"))


@operation(GET, CHARS + "/{character_id:str}/instances", "crossListCharacterInstances")
def character_instances(
    request: Req,
    extension_id: FromPath[str],
    character_id: FromPath[str],
) -> list[Instance]:
    db = extension_db_by_id(request, extension_id)
    return entities.list_instances(db, check_id(character_id, "character"))


@operation(GET, INSTS, "crossGetInstance")
def instance(
    request: Req,
    extension_id: FromPath[str],
    instance_id: FromPath[str],
) -> FullInstance:
    db = extension_db_by_id(request, extension_id)
    return entities.full_instance(db, check_id(instance_id, "instance"))


@operation(GET, INSTS + "/data", "crossGetInstanceData")
def instance_data(
    request: Req,
    extension_id: FromPath[str],
    instance_id: FromPath[str],
) -> dict[str, Any]:
    db = extension_db_by_id(request, extension_id)
    name = raw_key(request, "data")  # a key made only of "/" is routed here
    if name is not None:
        return {name: store.get_one(db, check_id(instance_id, "instance"), name)}
    return store.get_all(db, check_id(instance_id, "instance"))


@operation(GET, INSTS + "/data/{key:path}", "crossGetInstanceDataKey")
def instance_data_key(
    request: Req,
    extension_id: FromPath[str],
    instance_id: FromPath[str],
    key: FromPath[str],
) -> dict[str, Any]:
    db = extension_db_by_id(request, extension_id)
    name = key_from_path(request, "data", key)
    return {name: store.get_one(db, check_id(instance_id, "instance"), name)}


@route(
    ["/", "/{rest:path}"],  # "/" too: a write to /cross-extension itself is also 405
    http_method=list(HttpMethod),
    include_in_schema=False,
    sync_to_thread=False,
)
def read_only(request: Request[Any, Any, Any]) -> None:
    """Everything under /cross-extension/ is read-only: other methods are 405."""
    if request.method in ("GET", "HEAD"):
        raise NotFoundException()
    raise MethodNotAllowedException(headers={"Allow": "GET"})


router = Router(
    "/cross-extension",
    route_handlers=[
        characters,
        character,
        character_instances,
        instance,
        instance_data,
        instance_data_key,
        read_only,
    ],
)
