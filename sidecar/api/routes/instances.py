"""Instances of the extension named by ``x-extension-id``."""

from __future__ import annotations

from typing import Annotated

from litestar import Router, delete, get, post
from litestar.params import Parameter

from sidecar.api.schemas import InstanceBody, Success
from sidecar.errors import InvalidInput
from sidecar.ids import check_id
from sidecar.storage.extension_db import ExtensionDatabase
from sidecar.tracker import entities
from sidecar.tracker.records import FullInstance, Instance


@get("/instances", operation_id="listInstances", sync_to_thread=True)
def list_instances(
    db: ExtensionDatabase,
    character_id: Annotated[str | None, Parameter(query="characterId", required=False)] = None,
) -> list[Instance]:
    """Instances of one character (``?characterId=`` is required)."""
    if not character_id:
        raise InvalidInput("Query parameter characterId is required")
    return entities.list_instances(db, check_id(character_id, "character"))


@get("/instances/{instance_id:str}", operation_id="getInstance", sync_to_thread=True)
def get_instance(db: ExtensionDatabase, instance_id: str) -> FullInstance:
    return entities.full_instance(db, check_id(instance_id, "instance"))


@post("/instances", status_code=200, operation_id="saveInstance", sync_to_thread=True)
def save_instance(db: ExtensionDatabase, data: InstanceBody) -> Instance:
    """Create an instance under an existing character, or rename it."""
    return entities.save_instance(
        db, check_id(data.id, "instance"), check_id(data.character_id, "character"), data.name
    )


@delete(
    "/instances/{instance_id:str}",
    status_code=200,
    operation_id="deleteInstance",
    sync_to_thread=True,
)
def delete_instance(db: ExtensionDatabase, instance_id: str) -> Success:
    entities.delete_instance(db, check_id(instance_id, "instance"))
    return Success()


router = Router("/", route_handlers=[list_instances, get_instance, save_instance, delete_instance])
