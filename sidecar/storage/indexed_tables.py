"""Tables for chat data indexed into an extension's own database (the ExtensionBase family).

A namespace's values live in the same SQLite file as that extension's value-tracker data. Rows are
keyed by ``msg_uid``, the catalog's stable id of a message, not by position: inserting a message at
the top of a chat must not rewrite the other messages' rows. Positions live in the catalog.
"""

from __future__ import annotations

from sqlalchemy import Column, Index, Integer, Text
from sqlmodel import Field

from sidecar.storage.schema import ExtensionBase


class MessageDataRow(ExtensionBase, table=True):
    """One key of one namespace of one swipe of one message; ``value`` is JSON text."""

    __tablename__ = "message_data"
    # The primary key (chat_id, msg_uid, ...) already serves lookups by chat and message.
    __table_args__ = (Index("ix_message_data_key", "namespace", "key"),)

    chat_id: str = Field(primary_key=True)
    msg_uid: int = Field(primary_key=True)
    swipe: int = Field(primary_key=True)
    namespace: str = Field(primary_key=True)
    key: str = Field(primary_key=True)
    value: str = Field(sa_column=Column(Text, nullable=False))
    selected: bool
    seen_at: str


class ChatDataRow(ExtensionBase, table=True):
    """One key of one namespace of a chat's ``chat_metadata``."""

    __tablename__ = "chat_data"

    chat_id: str = Field(primary_key=True)
    namespace: str = Field(primary_key=True)
    key: str = Field(primary_key=True)
    value: str = Field(sa_column=Column(Text, nullable=False))
    seen_at: str


class DataHistoryRow(ExtensionBase, table=True):
    """A value that was replaced or removed, with when it was first seen and when it went away.

    ``msg_uid`` is NULL for chat-level data. ``position`` is the message's position when the value
    was replaced, so a user can find data lost with a deleted message or a shrunk chat.
    """

    __tablename__ = "data_history"
    __table_args__ = (
        Index("ix_history_item", "chat_id", "msg_uid", "namespace", "key"),
        Index("ix_history_time", "replaced_at"),
    )

    id: int | None = Field(default=None, sa_column=Column(Integer, primary_key=True))
    chat_id: str
    msg_uid: int | None = None
    position: int | None = None
    swipe: int | None = None
    namespace: str
    key: str
    value: str = Field(sa_column=Column(Text, nullable=False))
    seen_at: str
    replaced_at: str
    reason: str


message_data = MessageDataRow.__table__  # type: ignore[attr-defined]
chat_data = ChatDataRow.__table__  # type: ignore[attr-defined]
data_history = DataHistoryRow.__table__  # type: ignore[attr-defined]
