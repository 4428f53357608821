"""Characters and instances of one extension database."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import msgspec
from sqlalchemy import ColumnClause, Connection, RowMapping, func, literal_column, select

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
DATA_ROWID: ColumnClause[Any] = literal_column("instance_data.rowid")

Name = str | None | msgspec.UnsetType


def _character(row: Mapping[Any, Any]) -> Character:
    return Character(row["id"], row["name"], row["created_at"], row["updated_at"])


def _instance(row: Mapping[Any, Any]) -> Instance:
    return Instance(
        row["id"], row["character_id"], row["name"], row["created_at"], row["updated_at"]
    )


def _instances_of(conn: Connection, character_id: str) -> Sequence[RowMapping]:
    return (
        conn.execute(
            select(instances)
            .where(instances.c.character_id == character_id)
            .order_by(instances.c.created_at, instances.c.id)
        )
        .mappings()
        .all()
    )


def _data_of(conn: Connection, instance_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
    """Data of several instances, each in insertion order, values as raw JSON."""
    result: dict[str, dict[str, Any]] = {iid: {} for iid in instance_ids}
    rows = conn.execute(
        select(instance_data.c.instance_id, instance_data.c.key, instance_data.c.value)
        .where(instance_data.c.instance_id.in_(instance_ids))
        .order_by(instance_data.c.instance_id, DATA_ROWID)
    )
    for instance_id, key, value in rows.all():
        result[instance_id][key] = raw(value)
    return result


def _row(conn: Connection, table: Any, row_id: str) -> RowMapping | None:
    return conn.execute(select(table).where(table.c.id == row_id)).mappings().first()


def instance_row(conn: Connection, instance_id: str) -> RowMapping:
    row = _row(conn, instances, instance_id)
    if row is None:
        raise NotFound(INSTANCE_NOT_FOUND)
    return row


def _character_row(conn: Connection, character_id: str) -> RowMapping:
    row = _row(conn, characters, character_id)
    if row is None:
        raise NotFound(CHARACTER_NOT_FOUND)
    return row


# -- reads -------------------------------------------------------------------------------------


def list_characters(db: ExtensionDatabase) -> list[Character]:
    with db.read() as conn:
        rows = conn.execute(select(characters).order_by(characters.c.created_at, characters.c.id))
        return [_character(row) for row in rows.mappings()]


def full_character(db: ExtensionDatabase, character_id: str) -> FullCharacter:
    with db.read() as conn:
        character = _character(_character_row(conn, character_id))
        rows = _instances_of(conn, character_id)
        data = _data_of(conn, [row["id"] for row in rows])
    return FullCharacter(character, [FullInstance(_instance(row), data[row["id"]]) for row in rows])


def list_instances(db: ExtensionDatabase, character_id: str) -> list[Instance]:
    with db.read() as conn:
        return [_instance(row) for row in _instances_of(conn, character_id)]


def full_instance(db: ExtensionDatabase, instance_id: str) -> FullInstance:
    with db.read() as conn:
        row = instance_row(conn, instance_id)
        return FullInstance(_instance(row), _data_of(conn, [instance_id])[instance_id])


def stats(conn: Connection) -> ExtensionStats:
    def count(table: Any) -> int:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())

    return ExtensionStats(count(characters), count(instances), count(instance_data))


# -- writes ------------------------------------------------------------------------------------


def _create_or_rename(
    conn: Connection, table: Any, row: RowMapping | None, values: dict[str, Any], name: Name
) -> Mapping[Any, Any]:
    """Insert ``values`` when ``row`` is None; else apply ``name`` if given and different."""
    unset = isinstance(name, msgspec.UnsetType)
    if row is None:
        values["name"] = None if unset else name
        conn.execute(table.insert().values(**values))
        return values
    if unset or name == row["name"]:
        return row
    now = values["updated_at"]
    conn.execute(table.update().where(table.c.id == row["id"]).values(name=name, updated_at=now))
    return {**row, "name": name, "updated_at": now}


def save_character(db: ExtensionDatabase, character_id: str, name: Name) -> Character:
    """Create the character, or change the name of an existing one (an absent name keeps it)."""
    now = utc_now_iso()
    values = {"id": character_id, "created_at": now, "updated_at": now}
    with db.write() as conn:
        row = _row(conn, characters, character_id)
        return _character(_create_or_rename(conn, characters, row, values, name))


def delete_character(db: ExtensionDatabase, character_id: str) -> None:
    """Delete the character; its instances and their data go with it (ON DELETE CASCADE)."""
    with db.write() as conn:
        deleted = conn.execute(characters.delete().where(characters.c.id == character_id))
        if deleted.rowcount == 0:
            raise NotFound(CHARACTER_NOT_FOUND)


def save_instance(
    db: ExtensionDatabase, instance_id: str, character_id: str, name: Name
) -> Instance:
    """Create the instance under ``character_id`` or rename it; an id that already belongs to
    another character is a conflict (instance ids are unique within a database)."""
    now = utc_now_iso()
    values = {"id": instance_id, "character_id": character_id, "created_at": now, "updated_at": now}
    with db.write() as conn:
        _character_row(conn, character_id)
        row = _row(conn, instances, instance_id)
        if row is not None and row["character_id"] != character_id:
            raise Conflict(f"Instance {instance_id} belongs to another character")
        return _instance(_create_or_rename(conn, instances, row, values, name))


def delete_instance(db: ExtensionDatabase, instance_id: str) -> None:
    with db.write() as conn:
        deleted = conn.execute(instances.delete().where(instances.c.id == instance_id))
        if deleted.rowcount == 0:
            raise NotFound(INSTANCE_NOT_FOUND)


def delete_instances_of(db: ExtensionDatabase, character_id: str) -> int:
    with db.write() as conn:
        _character_row(conn, character_id)
        deleted = conn.execute(instances.delete().where(instances.c.character_id == character_id))
        return int(deleted.rowcount)
