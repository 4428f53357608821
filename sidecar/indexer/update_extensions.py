"""The extension side of one chat update: a write transaction per extension database it touches,
the message targets gathered for each, and the sweep that finishing an interrupted update needs.

Entered inside the catalog's transaction, so every extension database commits before the catalog
does (the protocol is explained in ``update``).
"""

from __future__ import annotations

import logging
from contextlib import ExitStack
from types import TracebackType
from typing import Any

import msgspec
from sqlalchemy import Connection

from sidecar.errors import SidecarError
from sidecar.indexer import extsync
from sidecar.indexer.chat_level import chat_level_data, chat_metadata
from sidecar.indexer.namespaces import NamespacePolicy
from sidecar.indexer.update_state import IndexResult, Stores
from sidecar.sillytavern.discovery import ChatLocation
from sidecar.sillytavern.messages import chat_namespaces

log = logging.getLogger(__name__)

# Keys listed per save on the change feed; past this (a rewrite of a huge chat) the save's
# ``updated`` event still follows, and a client should re-read the chat.
MAX_CHANGES = 100_000


class ExtensionSide:
    """The extension databases' part of one chat update. Leaving it (``with``) commits, or on an
    error rolls back, every transaction it opened, the last opened first.

    ``recovering``: the chat was left ``sync=pending`` by an interrupted run, which may have
    written rows of it in any extension database. ``feed``: record changed keys in
    ``result.changes`` (not for a chat indexed for the first time)."""

    def __init__(
        self,
        stores: Stores,
        policy: NamespacePolicy,
        result: IndexResult,
        *,
        chat_id: str,
        now: str,
        recovering: bool,
        feed: bool,
    ) -> None:
        self.database_for = stores.database_for
        self.extensions = stores.extensions
        self.policy = policy
        self.chat_id = chat_id
        self.now = now
        self.result = result
        self.recovering = recovering
        self.feed = feed
        self._stack = ExitStack()
        self._conns: dict[str, Connection | None] = {}
        self._targets: dict[str, list[extsync.MessageTarget]] = {}
        self._swept: set[str] | None = None

    def __enter__(self) -> ExtensionSide:
        self._stack.__enter__()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool | None:
        return self._stack.__exit__(exc_type, exc, tb)

    def extensions_of(self, namespaces: list[str]) -> set[str]:
        found = {self.policy.extension_for(ns) for ns in namespaces}
        return {ext for ext in found if ext is not None}

    def add(self, extension_id: str, target: extsync.MessageTarget) -> None:
        """A message whose rows in that extension's database the next ``flush`` brings in line."""
        self._targets.setdefault(extension_id, []).append(target)

    def take_targets(self) -> dict[str, list[extsync.MessageTarget]]:
        """The message targets gathered so far, to :meth:`flush` (possibly on another thread
        while more are gathered)."""
        targets, self._targets = self._targets, {}
        return targets

    def flush(
        self,
        gone: str = "message_deleted",
        targets: dict[str, list[extsync.MessageTarget]] | None = None,
    ) -> None:
        """Sync the gathered message targets (or ``targets``, taken before); ``gone`` is the
        history reason of removed values."""
        for ext, targets_of in (self.take_targets() if targets is None else targets).items():
            ext_conn = self._conn(ext)
            if ext_conn is not None:
                self._count(
                    extsync.sync_messages(
                        ext_conn,
                        self.chat_id,
                        targets_of,
                        now=self.now,
                        gone_reason=gone,
                        record=self.feed,
                    )
                )

    def drop_unknown(self, old_extensions: set[str], known: list[int]) -> None:
        """During a resync: drop rows of message ids the catalog does not have (left by an
        interrupted run) from every extension database that may hold some."""
        for ext in set(self._conns) | old_extensions | self._sweep():
            ext_conn = self._conn(ext)
            if ext_conn is not None:
                extsync.drop_unknown_messages(ext_conn, self.chat_id, known)

    def sync_chat_level(
        self,
        location: ChatLocation,
        header_obj: dict[str, Any] | None,
        previous_metadata: Any,
        gone: str,
    ) -> None:
        """Bring the chat-level rows in line with the header's ``chat_metadata``;
        ``previous_metadata`` is the catalog's JSON of it before the update (or empty)."""
        metadata = chat_metadata(location, header_obj)
        wanted = chat_level_data(self.policy, metadata)
        previous: list[str] = []
        if previous_metadata:
            previous = list(chat_namespaces(msgspec.json.decode(previous_metadata)))
        for ext in set(wanted) | self.extensions_of(previous) | self._sweep():
            conn = self._conn(ext)
            if conn is not None:
                self._count(
                    extsync.sync_chat(
                        conn, self.chat_id, wanted.get(ext, {}), now=self.now, gone_reason=gone
                    )
                )

    def _conn(self, extension_id: str) -> Connection | None:
        if extension_id not in self._conns:
            db = self.database_for(extension_id)
            self._conns[extension_id] = (
                None if db is None else self._stack.enter_context(db.write())
            )
        return self._conns[extension_id]

    def _sweep(self) -> set[str]:
        """When finishing an interrupted update: every extension database that can be opened,
        since that run may have written rows of this chat where nothing names them now."""
        if self._swept is None:
            self._swept = set()
            for ext in self.extensions() if self.recovering else []:
                try:
                    if self._conn(ext) is not None:
                        self._swept.add(ext)
                except SidecarError as exc:  # not a usable database: nothing to clean there
                    log.warning("resync of chat %s skips %s: %s", self.chat_id, ext, exc)
                    self._conns[ext] = None
        return self._swept

    def _count(self, counts: extsync.SyncCounts) -> None:
        self.result.data_written += counts.written
        self.result.data_deleted += counts.deleted
        self.result.history += counts.history
        if self.feed and len(self.result.changes) < MAX_CHANGES:
            self.result.changes.extend(counts.changes[: MAX_CHANGES - len(self.result.changes)])
