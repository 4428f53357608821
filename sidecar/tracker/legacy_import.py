"""Loading a translated old plugin database into one extension's database.

The rules are the API's: an extension that already has characters is only written with
``merge`` (then imported rows replace rows with the same ids and other rows stay), and an instance
id that belongs to another character in sidecar is a conflict (skipped and reported, like the
API's 409). Everything for one extension is one transaction: all of it is written or none.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, func, select
from sqlalchemy.dialects.sqlite import insert

from sidecar.errors import Conflict
from sidecar.storage.extension_db import ExtensionDatabase
from sidecar.storage.schema import characters, instance_data, instances
from sidecar.tracker.legacy_translate import (
    NewCharacter,
    NewData,
    NewInstance,
    Skip,
    Translation,
    show,
)

_CHUNK = 500  # ids per IN (...) list, far below SQLite's variable limit


class ImportRefused(Conflict):
    """The extension already has characters and ``merge`` was not asked for."""


@dataclass(frozen=True)
class Existing:
    """What the extension already holds, as far as the import is concerned."""

    characters: int = 0  # how many characters it has in all
    character_ids: frozenset[str] = frozenset()  # those of them the import names
    instance_owner: dict[str, str] = field(default_factory=dict)  # imported id -> its character
    keys: frozenset[tuple[str, str]] = frozenset()  # imported (instance, key) already stored


@dataclass
class ImportPlan:
    characters: list[NewCharacter]  # including the ones created for orphan instances
    instances: list[NewInstance]
    data: list[NewData]
    placeholders: list[str]  # characters created (name null) for instances without one
    skipped: list[Skip]
    translation: Translation
    existing_characters: int = 0
    replaced: dict[str, int] = field(default_factory=dict)  # table -> rows that replaced rows

    @property
    def orphan_instances(self) -> int:
        return sum(1 for item in self.instances if item.orphan)


def _chunks(items: Sequence[str]) -> Iterator[Sequence[str]]:
    for start in range(0, len(items), _CHUNK):
        yield items[start : start + _CHUNK]


def _found(conn: Connection, query: Any, column: Any, ids: Iterable[str]) -> list[Any]:
    rows: list[Any] = []
    for chunk in _chunks(sorted(set(ids))):
        rows.extend(conn.execute(query.where(column.in_(chunk))).all())
    return rows


def read_existing(conn: Connection, tr: Translation) -> Existing:
    count = int(conn.execute(select(func.count()).select_from(characters)).scalar_one())
    if count == 0:
        return Existing()  # no characters: no instances or data either (foreign keys)
    named = set(tr.characters) | {item.character_id for item in tr.instances.values()}
    character_ids = _found(conn, select(characters.c.id), characters.c.id, named)
    owners = _found(
        conn, select(instances.c.id, instances.c.character_id), instances.c.id, tr.instances
    )
    imported_keys = {(d.instance_id, d.key) for rows in tr.data.values() for d in rows}
    stored = _found(
        conn,
        select(instance_data.c.instance_id, instance_data.c.key),
        instance_data.c.instance_id,
        [row.id for row in owners],
    )
    return Existing(
        count,
        frozenset(row.id for row in character_ids),
        {row.id: row.character_id for row in owners},
        frozenset((row.instance_id, row.key) for row in stored) & imported_keys,
    )


def make_plan(
    tr: Translation, existing: Existing, *, extension_id: str, merge: bool, now: str
) -> ImportPlan:
    """Apply the merge rules; raises ImportRefused when the extension has data and not merge."""
    if existing.characters and not merge:
        raise ImportRefused(
            f"extension {extension_id} already has {existing.characters} character(s) in "
            "sidecar; pass --merge to import into it (imported rows replace rows with the same "
            "ids, all other rows are kept), or --dry-run to see what would change"
        )
    skipped = list(tr.skipped)
    placed: list[NewInstance] = []
    conflicts: dict[str, str] = {}
    for item in tr.instances.values():
        owner = existing.instance_owner.get(item.id)
        if owner is not None and owner != item.character_id:
            conflicts[item.id] = owner
            skipped.append(
                Skip(
                    "instance",
                    show(item.id),
                    f"in sidecar this instance id belongs to character {show(owner)} "
                    "(instance ids are unique in an extension; the API answers 409)",
                )
            )
            continue
        placed.append(item)
    data: list[NewData] = []
    for instance_id, rows in tr.data.items():
        if instance_id in conflicts:
            reason = "its instance was skipped (its id belongs to another character in sidecar)"
            skipped.extend(Skip("data", show(instance_id), reason, show(d.key)) for d in rows)
        else:
            data.extend(rows)
    wanted = {item.character_id for item in placed if item.orphan}
    placeholders = sorted(wanted - existing.character_ids)
    created = [NewCharacter(cid, None, now, now) for cid in placeholders]
    return ImportPlan(
        characters=[*tr.characters.values(), *created],
        instances=placed,
        data=data,
        placeholders=placeholders,
        skipped=skipped,
        translation=tr,
        existing_characters=existing.characters,
        replaced={
            "characters": len(set(tr.characters) & existing.character_ids),
            "instances": sum(1 for item in placed if item.id in existing.instance_owner),
            "keys": sum(1 for d in data if (d.instance_id, d.key) in existing.keys),
        },
    )


def _upsert(table: Any, keys: list[str], columns: list[str]) -> Any:
    statement = insert(table)
    return statement.on_conflict_do_update(
        index_elements=[table.c[key] for key in keys],
        set_={column: statement.excluded[column] for column in columns},
    )


_STAMPS = ["created_at", "updated_at"]
_CHARACTERS = _upsert(characters, ["id"], ["name", *_STAMPS])
_INSTANCES = _upsert(instances, ["id"], ["name", *_STAMPS])  # same character: checked before
_DATA = _upsert(instance_data, ["instance_id", "key"], ["value", *_STAMPS])


def apply_plan(conn: Connection, plan: ImportPlan) -> None:
    """Write the plan in ``conn``'s transaction (upserts, never a delete)."""
    rows: list[tuple[Any, list[dict[str, Any]]]] = [
        (
            _CHARACTERS,
            [
                {"id": c.id, "name": c.name, "created_at": c.created_at, "updated_at": c.updated_at}
                for c in plan.characters
            ],
        ),
        (
            _INSTANCES,
            [
                {
                    "id": i.id,
                    "character_id": i.character_id,
                    "name": i.name,
                    "created_at": i.created_at,
                    "updated_at": i.updated_at,
                }
                for i in plan.instances
            ],
        ),
        (
            _DATA,
            [
                {
                    "instance_id": d.instance_id,
                    "key": d.key,
                    "value": d.value,
                    "created_at": d.created_at,
                    "updated_at": d.updated_at,
                }
                for d in plan.data
            ],
        ),
    ]
    for statement, values in rows:
        if values:
            conn.execute(statement, values)


def import_into(
    db: ExtensionDatabase, tr: Translation, *, extension_id: str, merge: bool, now: str
) -> ImportPlan:
    """Plan against the database's current rows and write it, in one transaction."""
    with db.write() as conn:
        existing = read_existing(conn, tr)
        plan = make_plan(tr, existing, extension_id=extension_id, merge=merge, now=now)
        apply_plan(conn, plan)
    return plan
