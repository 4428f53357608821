"""Characters of the extension named by ``x-extension-id``."""

from __future__ import annotations

from typing import Any

from litestar import Request, Router
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody

from sidecar.api.deps import extension_db
from sidecar.api.operation import DELETE, GET, POST, operation, run_write
from sidecar.api.schemas import CharacterBody, DeletedCount, Success
from sidecar.ids import check_id
from sidecar.storage.extension_db import ExtensionDatabase
from sidecar.tracker import entities
from sidecar.tracker.records import Character, FullCharacter, Instance

# Reads look the database up themselves (see sidecar.api.deps.extension_db); handlers with a
# body or in a worker thread take it as the ``db`` dependency.
Req = Request[Any, Any, Any]


@operation(GET, "/characters", "listCharacters")
def list_characters(request: Req) -> list[Character]:
    return entities.list_characters(extension_db(request))


@operation(GET, "/characters/{character_id:str}", "getCharacter")
def get_character(request: Req, character_id: FromPath[str]) -> FullCharacter:
    """The character with all its instances and their data."""
    db = extension_db(request)
    return entities.full_character(db, check_id(character_id, "character"))


@operation(POST, "/characters", "saveCharacter")
async def save_character(
    db: NamedDependency[ExtensionDatabase], data: JSONBody[CharacterBody]
) -> Character:
    """Create a character, or rename an existing one (omit ``name`` to keep it)."""
    return await run_write(entities.save_character, db, check_id(data.id, "character"), data.name)


@operation(DELETE, "/characters/{character_id:str}", "deleteCharacter")
def delete_character(
    db: NamedDependency[ExtensionDatabase], character_id: FromPath[str]
) -> Success:
    """Delete a character with its instances and their data, in one transaction."""
    entities.delete_character(db, check_id(character_id, "character"))
    return Success()


@operation(GET, "/characters/{character_id:str}/instances", "listCharacterInstances")
def list_character_instances(request: Req, character_id: FromPath[str]) -> list[Instance]:
    db = extension_db(request)
    return entities.list_instances(db, check_id(character_id, "character"))


@operation(DELETE, "/characters/{character_id:str}/instances", "deleteCharacterInstances")
def delete_character_instances(
    db: NamedDependency[ExtensionDatabase], character_id: FromPath[str]
) -> DeletedCount:
    count = entities.delete_instances_of(db, check_id(character_id, "character"))
    return DeletedCount(deleted_count=count)


router = Router(
    "/",
    route_handlers=[
        list_characters,
        get_character,
        save_character,
        delete_character,
        list_character_instances,
        delete_character_instances,
    ],
)
