"""State carried through one chat update, and its result."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import msgspec
from sqlalchemy import Connection

from sidecar.indexer.extsync import DataChange
from sidecar.indexer.namespaces import NamespacePolicy
from sidecar.storage.extension_db import Database, ExtensionDatabase
from sidecar.storage.linestore import LineStore
from sidecar.storage.sqlite import fetchall

DatabaseFor = Callable[[str], ExtensionDatabase | None]


@dataclass
class SegmentFill:
    """A bulk load's own filling of the catalog's CJK segmentation table (``bulk``: its
    full-text triggers are away). It stays exact while every message written is new; a message
    rewritten or deleted meanwhile makes the rebuild at the end fill the table again instead."""

    exact: bool = True


@dataclass(frozen=True)
class Stores:
    """Where indexed data goes: the catalog, the line store, each extension's database.
    ``extensions`` lists every extension whose database exists (where a crash may have left
    rows of a chat; see ``update``)."""

    catalog: Database
    lines: LineStore
    database_for: DatabaseFor
    extensions: Callable[[], list[str]] = list
    segments: SegmentFill | None = None  # during a bulk load (``bulk``)


@dataclass
class IndexResult:
    """What indexing one file did; the counters make incremental behaviour observable."""

    chat_id: str | None
    status: str  # new | updated | unchanged | missing | renamed | skipped
    messages: int = 0
    new_messages: int = 0
    edited_messages: int = 0
    removed_messages: int = 0
    moved_messages: int = 0
    parsed_lines: int = 0
    data_written: int = 0
    data_deleted: int = 0
    history: int = 0
    size: int = 0
    shrunk: bool = False
    problems: list[tuple[int, str]] = field(default_factory=list)
    changes: list[DataChange] = field(default_factory=list)  # for the change feed
    renamed_from: str | None = None  # the previous relative path, for status "renamed"
    rederived: bool = False  # re-derived because the settings that shape its rows changed


@dataclass(frozen=True)
class UpdateSettings:
    policy: NamespacePolicy
    top_level_fields: tuple[str, ...] | None = None  # None: every field not SillyTavern's own
    shrink_ratio: float = 0.5


@dataclass
class OldMessage:
    """A message as the catalog had it before this update."""

    msg_uid: int
    position: int
    line_no: int
    namespaces_json: str  # decoded when asked: most messages of a re-indexed chat never are
    problems: str | None

    @cached_property
    def namespaces(self) -> list[str]:
        return msgspec.json.decode(self.namespaces_json, type=list[str])


def load_old_messages(conn: Connection, chat_id: str) -> dict[int, OldMessage]:
    """The catalog's messages of a chat keyed by 0-based line index."""
    rows = fetchall(
        conn,
        "SELECT msg_uid, position, line_no, namespaces, problems FROM messages WHERE chat_id = ?",
        (chat_id,),
    )
    return {
        line_no - 1: OldMessage(uid, position, line_no, names, probs)
        for uid, position, line_no, names, probs in rows
    }


@dataclass
class Walk:
    """Where the walk over the new file's lines is, and what it has gathered to write."""

    old: dict[int, OldMessage]
    next_uid: int
    origin: list[int | None]  # old line index of each unchanged new line
    block_of: list[int]  # diff block of each new line
    pools: dict[int, list[OldMessage]] = field(default_factory=dict)
    old_header: int | None = None
    old_header_problems: list[str] = field(default_factory=list)  # reported for the old header
    position: int = 0
    seen_object: bool = False
    header_line: int | None = None
    header_obj: dict[str, Any] | None = None
    shrunk: bool = False
    carried: set[int] = field(default_factory=set)
    new_lines: list[tuple[bytes, bytes]] = field(default_factory=list)  # (hash, line)
    inserts: list[tuple[Any, ...]] = field(default_factory=list)
    moves: list[tuple[int, int, int]] = field(default_factory=list)  # (position, line_no, uid)
    unchecked: list[tuple[int, bytes]] = field(default_factory=list)  # lines read, not yet checked
    segments: list[tuple[int, str]] = field(default_factory=list)  # (uid, CJK-segmented text)
    problem_rows: list[dict[str, Any]] = field(default_factory=list)

    def take_batch(self) -> Batch:
        """The lines, messages and moves gathered so far, to write; the walk starts anew."""
        batch = Batch(self.new_lines, self.inserts, self.moves, self.unchecked[:], self.segments)
        self.new_lines, self.inserts, self.moves, self.segments = [], [], [], []
        self.unchecked.clear()  # the same list: the file's line reader appends to it
        return batch


@dataclass
class Batch:
    """Rows of the catalog one batch of the walk writes."""

    new_lines: list[tuple[bytes, bytes]]  # (hash, line)
    inserts: list[tuple[Any, ...]]
    moves: list[tuple[int, int, int]]  # (position, line_no, uid)
    unchecked: list[
        tuple[int, bytes]
    ]  # (index, line) read from the file, to check against the scan
    segments: list[tuple[int, str]] = field(default_factory=list)  # bulk loads only (SegmentFill)
