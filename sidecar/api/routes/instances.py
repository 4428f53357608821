"""Instances of the extension named by ``x-extension-id``."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Request, Router
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody, QueryParameter

from sidecar.api.deps import extension_db
from sidecar.api.operation import DELETE, GET, POST, operation, run_write
from sidecar.api.schemas import InstanceBody, Success
from sidecar.errors import InvalidInput
from sidecar.ids import check_id
from sidecar.storage.extension_db import ExtensionDatabase
from sidecar.tracker import entities
from sidecar.tracker.records import FullInstance, Instance

# Reads look the database up themselves (see sidecar.api.deps.extension_db).
Req = Request[Any, Any, Any]


@operation(GET, "/instances", "listInstances")
def list_instances(
    request: Req,
    character_id: Annotated[str | None, QueryParameter(name="characterId", required=False)] = None,
) -> list[Instance]:
    """Instances of one character (``?characterId=`` is required)."""
    db = extension_db(request)
    if not character_id:
        raise InvalidInput("Query parameter characterId is required")
    return entities.list_instances(db, check_id(character_id, "character"))


@operation(GET, "/instances/{instance_id:str}", "getInstance")
def get_instance(request: Req, instance_id: FromPath[str]) -> FullInstance:
    return entities.full_instance(extension_db(request), check_id(instance_id, "instance"))


@operation(POST, "/instances", "saveInstance")
async def save_instance(
    db: NamedDependency[ExtensionDatabase], data: JSONBody[InstanceBody]
) -> Instance:
    """Create an instance under an existing character, or rename it."""
    instance_id = check_id(data.id, "instance")
    character_id = check_id(data.character_id, "character")
    return await run_write(entities.save_instance, db, instance_id, character_id, data.name)


@operation(DELETE, "/instances/{instance_id:str}", "deleteInstance")
def delete_instance(db: NamedDependency[ExtensionDatabase], instance_id: FromPath[str]) -> Success:
    entities.delete_instance(db, check_id(instance_id, "instance"))
    return Success()


router = Router("/", route_handlers=[list_instances, get_instance, save_instance, delete_instance])
