"""Characters and instances of one extension database.

Plain SQL on the database's kept-open ``sqlite3`` connections (``Database.read_raw`` and
``write_raw``): these run on every value-tracker request, where SQLAlchemy Core cost several times
SQLite's own work. Column lists are spelled out so rows map onto the records by position.
"""

from __future__ import annotations

import sqlite3
from typing import Any

import msgspec
from sqlalchemy import Connection, func, select

from sidecar.clock import utc_now_iso
from sidecar.errors import Conflict, NotFound
from sidecar.storage.extension_db import ExtensionDatabase
from sidecar.storage.schema import characters, instance_data, instances
from sidecar.tracker.codec import raw
from sidecar.tracker.records import (
    Character,
    ExtensionStats,
    FullCharacter,
    FullInstance,
    Instance,
)

CHARACTER_NOT_FOUND = "Character not found"
INSTANCE_NOT_FOUND = "Instance not found"

Name = str | None | msgspec.UnsetType

_CHARACTER = "SELECT id, name, created_at, updated_at FROM characters"
_INSTANCE = "SELECT id, character_id, name, created_at, updated_at FROM instances"
ALL_CHARACTERS = f"{_CHARACTER} ORDER BY created_at, id"
CHARACTER_BY_ID = f"{_CHARACTER} WHERE id = ?"
INSTANCE_BY_ID = f"{_INSTANCE} WHERE id = ?"
INSTANCES_OF = f"{_INSTANCE} WHERE character_id = ? ORDER BY created_at, id"
# Data in insertion order (rowid; an upsert keeps a key's rowid), grouped by instance.
DATA_OF_INSTANCE = "SELECT key, value FROM instance_data WHERE instance_id = ? ORDER BY rowid"
DATA_OF_CHARACTER = (
    "SELECT d.instance_id, d.key, d.value FROM instance_data AS d "
    "JOIN instances AS i ON i.id = d.instance_id "
    "WHERE i.character_id = ? ORDER BY d.instance_id, d.rowid"
)
INSERT_CHARACTER = "INSERT INTO characters (id, name, created_at, updated_at) VALUES (?, ?, ?, ?)"
RENAME_CHARACTER = "UPDATE characters SET name = ?, updated_at = ? WHERE id = ?"
DELETE_CHARACTER = "DELETE FROM characters WHERE id = ?"
INSERT_INSTANCE = (
    "INSERT INTO instances (id, character_id, name, created_at, updated_at) VALUES (?, ?, ?, ?, ?)"
)
RENAME_INSTANCE = "UPDATE instances SET name = ?, updated_at = ? WHERE id = ?"
DELETE_INSTANCE = "DELETE FROM instances WHERE id = ?"
DELETE_INSTANCES_OF = "DELETE FROM instances WHERE character_id = ?"


def _one(conn: sqlite3.Connection, sql: str, row_id: str) -> Any:
    return conn.execute(sql, (row_id,)).fetchone()


def instance_row(conn: sqlite3.Connection, instance_id: str) -> Instance:
    row = _one(conn, INSTANCE_BY_ID, instance_id)
    if row is None:
        raise NotFound(INSTANCE_NOT_FOUND)
    return Instance(*row)


def _character_row(conn: sqlite3.Connection, character_id: str) -> Character:
    row = _one(conn, CHARACTER_BY_ID, character_id)
    if row is None:
        raise NotFound(CHARACTER_NOT_FOUND)
    return Character(*row)


def _instances_of(conn: sqlite3.Connection, character_id: str) -> list[Instance]:
    return [Instance(*row) for row in conn.execute(INSTANCES_OF, (character_id,))]


def _data(conn: sqlite3.Connection, instance_id: str) -> dict[str, Any]:
    """One instance's data in insertion order, values as raw JSON."""
    return {key: raw(value) for key, value in conn.execute(DATA_OF_INSTANCE, (instance_id,))}


# -- reads -------------------------------------------------------------------------------------


def list_characters(db: ExtensionDatabase) -> list[Character]:
    with db.read_raw() as conn:
        return [Character(*row) for row in conn.execute(ALL_CHARACTERS)]


def full_character(db: ExtensionDatabase, character_id: str) -> FullCharacter:
    with db.read_raw() as conn:
        character = _character_row(conn, character_id)
        found = _instances_of(conn, character_id)
        data: dict[str, dict[str, Any]] = {item.id: {} for item in found}
        for instance_id, key, value in conn.execute(DATA_OF_CHARACTER, (character_id,)):
            data[instance_id][key] = raw(value)
    return FullCharacter(character, [FullInstance(item, data[item.id]) for item in found])


def list_instances(db: ExtensionDatabase, character_id: str) -> list[Instance]:
    with db.read_raw() as conn:
        return _instances_of(conn, character_id)


def full_instance(db: ExtensionDatabase, instance_id: str) -> FullInstance:
    with db.read_raw() as conn:
        return FullInstance(instance_row(conn, instance_id), _data(conn, instance_id))


def stats(conn: Connection) -> ExtensionStats:
    """Row counts, on a SQLAlchemy connection (``ExtensionRegistry.peek`` gives one)."""

    def count(table: Any) -> int:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())

    return ExtensionStats(count(characters), count(instances), count(instance_data))


# -- writes ------------------------------------------------------------------------------------


def _or_none(name: Name) -> str | None:
    return None if isinstance(name, msgspec.UnsetType) else name


def save_character(
    db: ExtensionDatabase, character_id: str, name: Name, *, block: bool = True
) -> Character:
    """Create the character, or change the name of an existing one (an absent name keeps it).
    ``block=False``: see ``Database.write_raw``."""
    now = utc_now_iso()
    with db.write_raw(block=block) as conn:
        row = _one(conn, CHARACTER_BY_ID, character_id)
        if row is None:
            created = Character(character_id, _or_none(name), now, now)
            conn.execute(INSERT_CHARACTER, (created.id, created.name, now, now))
            return created
        found = Character(*row)
        if isinstance(name, msgspec.UnsetType) or name == found.name:
            return found
        conn.execute(RENAME_CHARACTER, (name, now, character_id))
        return Character(found.id, name, found.created_at, now)


def delete_character(db: ExtensionDatabase, character_id: str) -> None:
    """Delete the character; its instances and their data go with it (ON DELETE CASCADE)."""
    with db.write_raw() as conn:
        if conn.execute(DELETE_CHARACTER, (character_id,)).rowcount == 0:
            raise NotFound(CHARACTER_NOT_FOUND)


def save_instance(
    db: ExtensionDatabase, instance_id: str, character_id: str, name: Name, *, block: bool = True
) -> Instance:
    """Create the instance under ``character_id`` or rename it; an id that already belongs to
    another character is a conflict (instance ids are unique within a database)."""
    now = utc_now_iso()
    with db.write_raw(block=block) as conn:
        _character_row(conn, character_id)
        row = _one(conn, INSTANCE_BY_ID, instance_id)
        if row is None:
            created = Instance(instance_id, character_id, _or_none(name), now, now)
            conn.execute(INSERT_INSTANCE, (instance_id, character_id, created.name, now, now))
            return created
        found = Instance(*row)
        if found.character_id != character_id:
            raise Conflict(f"Instance {instance_id} belongs to another character")
        if isinstance(name, msgspec.UnsetType) or name == found.name:
            return found
        conn.execute(RENAME_INSTANCE, (name, now, instance_id))
        return Instance(found.id, character_id, name, found.created_at, now)


def delete_instance(db: ExtensionDatabase, instance_id: str) -> None:
    with db.write_raw() as conn:
        if conn.execute(DELETE_INSTANCE, (instance_id,)).rowcount == 0:
            raise NotFound(INSTANCE_NOT_FOUND)


def delete_instances_of(db: ExtensionDatabase, character_id: str) -> int:
    with db.write_raw() as conn:
        _character_row(conn, character_id)
        return int(conn.execute(DELETE_INSTANCES_OF, (character_id,)).rowcount)
