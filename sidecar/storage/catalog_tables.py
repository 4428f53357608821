"""The catalog database (``sidecar.index.db``): chats, messages, every distinct line, versions.

Every distinct line of every chat is stored once, addressed by its hash; a version of a chat file
is its framing plus its list of line hashes, stored as a delta against an earlier version, so a
save that changes one message adds one line and a small delta, not a copy of the chat.
"""

from __future__ import annotations

from sqlalchemy import Column, Index, Integer, LargeBinary, Text
from sqlalchemy.orm import registry
from sqlmodel import Field, SQLModel


class CatalogBase(SQLModel, registry=registry()):
    """Tables of the catalog database."""


class ChatRow(CatalogBase, table=True):
    __tablename__ = "chats"

    chat_id: str = Field(primary_key=True)
    user: str = Field(index=True)
    kind: str  # solo | group
    character: str | None = None
    group_id: str | None = None
    group_name: str | None = None
    group_members: str | None = None  # JSON list
    file_name: str
    rel_path: str = Field(unique=True)
    user_name: str | None = None
    character_name: str | None = None
    create_date: str | None = None
    metadata_json: str | None = Field(default=None, sa_column=Column(Text))  # chat_metadata
    integrity: str | None = None
    message_count: int = 0
    size: int = 0
    mtime_ns: int = 0
    file_hash: bytes | None = Field(default=None, sa_column=Column(LargeBinary))
    line_hashes: bytes = Field(sa_column=Column(LargeBinary, nullable=False, default=b""))
    bom: bool = False
    trailing_newline: bool = False
    header_line: int | None = None  # 0-based index of the header line, if any
    version: int = 0
    state: str = "ok"  # ok | missing | shrunk
    sync: str = "ok"  # ok | pending (an update was interrupted: resync on next run)
    shrunk_from: int | None = None
    first_seen: str
    last_indexed: str
    last_changed: str
    missing_since: str | None = None


class MessageRow(CatalogBase, table=True):
    __tablename__ = "messages"
    __table_args__ = (
        Index("ix_messages_position", "chat_id", "position"),
        {"sqlite_autoincrement": True},
    )

    # AUTOINCREMENT: a msg_uid is never reused, so history rows never point at a newer message.
    msg_uid: int | None = Field(
        default=None, sa_column=Column(Integer, primary_key=True, autoincrement=True)
    )
    chat_id: str
    position: int
    line_no: int  # 1-based line of the file
    line_hash: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    name: str | None = None
    is_user: bool = False
    is_system: bool = False
    send_date_raw: str | None = None
    send_date: str | None = None
    text: str | None = Field(default=None, sa_column=Column(Text))
    swipe_id: int = 0
    swipe_count: int = 0
    builtin_extra: str | None = Field(default=None, sa_column=Column(Text))  # JSON
    namespaces: str = "[]"  # JSON list of the extension namespaces the message carries
    problems: str | None = None  # JSON list of non-fatal oddities


class LineRow(CatalogBase, table=True):
    """Where each distinct line ever seen is stored in the line store's pack files."""

    __tablename__ = "lines"

    hash: bytes = Field(sa_column=Column(LargeBinary, primary_key=True))
    pack: int
    offset: int
    length: int


class VersionRow(CatalogBase, table=True):
    """One indexed version of a chat file: framing plus its line list (full, or a delta)."""

    __tablename__ = "versions"

    chat_id: str = Field(primary_key=True)
    version: int = Field(primary_key=True)
    seen_at: str
    rel_path: str
    size: int
    message_count: int
    file_hash: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    bom: bool
    trailing_newline: bool
    base_version: int | None = None  # None: ``ops`` holds the full list
    ops: bytes = Field(sa_column=Column(LargeBinary, nullable=False))


class ProblemRow(CatalogBase, table=True):
    """A line that could not be indexed (or a message oddity), from the latest index of a chat."""

    __tablename__ = "problems"

    id: int | None = Field(default=None, sa_column=Column(Integer, primary_key=True))
    chat_id: str = Field(index=True)
    line_no: int
    reason: str


class MetaRow(CatalogBase, table=True):
    """Facts about the catalog as a whole, e.g. the fingerprint of the settings that shaped the
    indexed data (``settings_fingerprint``, JSON)."""

    __tablename__ = "catalog_meta"

    name: str = Field(primary_key=True)
    value: str = Field(sa_column=Column(Text, nullable=False))


class RederiveRow(CatalogBase, table=True):
    """A chat whose derived rows must be rebuilt from its file (the settings that shape them
    changed, or ``sidecar index --reindex``), and why. Removed once that is done."""

    __tablename__ = "rederive"

    chat_id: str = Field(primary_key=True)
    reason: str


class EventRow(CatalogBase, table=True):
    """One change of the change feed, committed with the index change it announces.

    ``id`` is AUTOINCREMENT (never reused, even after pruning) and starts at a time-based seed
    when the table is created (``sidecar.storage.event_log``), so a client's last event id is
    never reissued by a later catalog either."""

    __tablename__ = "events"
    __table_args__ = ({"sqlite_autoincrement": True},)

    id: int | None = Field(default=None, sa_column=Column(Integer, primary_key=True))
    chat_id: str
    user: str | None = None
    kind: str
    position: int | None = None
    swipe: int | None = None
    namespace: str | None = None
    keys: str = "[]"  # JSON list
    at: str
    message_count: int | None = None
    previous_count: int | None = None


chats = ChatRow.__table__  # type: ignore[attr-defined]
messages = MessageRow.__table__  # type: ignore[attr-defined]
lines = LineRow.__table__  # type: ignore[attr-defined]
versions = VersionRow.__table__  # type: ignore[attr-defined]
problems = ProblemRow.__table__  # type: ignore[attr-defined]
catalog_meta = MetaRow.__table__  # type: ignore[attr-defined]
rederive = RederiveRow.__table__  # type: ignore[attr-defined]
events = EventRow.__table__  # type: ignore[attr-defined]
