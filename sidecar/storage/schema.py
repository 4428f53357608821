"""Table definitions, one SQLModel registry per database family.

Each family has its own metadata, so creating one extension's database never creates the tables
of another family (SQLModel's global metadata would). Values are stored as JSON text exactly as
encoded, so a string ``"10"`` stays a string and ``null`` stays null.
"""

from __future__ import annotations

from sqlalchemy import Column, ForeignKey, Index, String, Text
from sqlalchemy.orm import registry
from sqlmodel import Field, SQLModel

SCHEMA_VERSION = "1"


class ExtensionBase(SQLModel, registry=registry()):
    """Tables of one extension's database (``<database_dir>/<extensionId>.db``)."""


class RegistryBase(SQLModel, registry=registry()):
    """Tables of sidecar's own registry database."""


class SchemaInfo(ExtensionBase, table=True):
    __tablename__ = "sidecar_meta"

    name: str = Field(primary_key=True)
    value: str


class CharacterRow(ExtensionBase, table=True):
    __tablename__ = "characters"

    id: str = Field(primary_key=True)
    name: str | None = None
    created_at: str
    updated_at: str


class InstanceRow(ExtensionBase, table=True):
    __tablename__ = "instances"
    __table_args__ = (Index("ix_instances_character", "character_id", "created_at"),)

    id: str = Field(primary_key=True)
    character_id: str = Field(
        sa_column=Column(String, ForeignKey("characters.id", ondelete="CASCADE"), nullable=False)
    )
    name: str | None = None
    created_at: str
    updated_at: str


class DataRow(ExtensionBase, table=True):
    """One key of one instance's data; ``value`` is JSON text."""

    __tablename__ = "instance_data"

    instance_id: str = Field(
        sa_column=Column(
            String,
            ForeignKey("instances.id", ondelete="CASCADE"),
            primary_key=True,
        )
    )
    key: str = Field(primary_key=True)
    value: str = Field(sa_column=Column(Text, nullable=False))
    created_at: str
    updated_at: str


class ExtensionRecord(RegistryBase, table=True):
    """A registration; ``db_file`` is a file name relative to the database folder."""

    __tablename__ = "extensions"

    extension_id: str = Field(primary_key=True)
    db_file: str = Field(unique=True)
    registered: bool
    created_at: str
    updated_at: str


characters = CharacterRow.__table__  # type: ignore[attr-defined]
instances = InstanceRow.__table__  # type: ignore[attr-defined]
instance_data = DataRow.__table__  # type: ignore[attr-defined]
schema_info = SchemaInfo.__table__  # type: ignore[attr-defined]
extension_records = ExtensionRecord.__table__  # type: ignore[attr-defined]
