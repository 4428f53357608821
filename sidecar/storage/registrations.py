"""The rows of ``sidecar.registry.db``: which extensions are registered, and their files."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Connection, select

from sidecar.storage.schema import extension_records


@dataclass(frozen=True)
class Registration:
    extension_id: str
    db_file: str  # a file name in the database folder
    registered: bool
    created_at: str


def read_registrations(conn: Connection) -> dict[str, Registration]:
    rows = conn.execute(select(extension_records)).mappings().all()
    return {
        row["extension_id"]: Registration(
            row["extension_id"], row["db_file"], bool(row["registered"]), row["created_at"]
        )
        for row in rows
    }


def write_registration(conn: Connection, record: Registration, now: str) -> None:
    """Store ``record`` (replacing the extension's row), ``now`` as its update time."""
    conn.execute(
        extension_records.delete().where(extension_records.c.extension_id == record.extension_id)
    )
    conn.execute(
        extension_records.insert().values(
            extension_id=record.extension_id,
            db_file=record.db_file,
            registered=record.registered,
            created_at=record.created_at,
            updated_at=now,
        )
    )
