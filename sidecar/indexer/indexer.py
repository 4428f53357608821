"""The chat indexer: decides per file whether anything must be done, keeps a renamed chat's
identity (the rule is in ``renames``), re-derives chats whose settings changed (``rederive``),
and marks vanished chats missing (never purged)."""

from __future__ import annotations

import logging
import os
import stat
import time
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, select

from sidecar.clock import utc_now_iso
from sidecar.indexer import renames
from sidecar.indexer.feed import announce_chat
from sidecar.indexer.update import ChatUpdate
from sidecar.indexer.update_settle import settle_if_pending
from sidecar.indexer.update_state import IndexResult, Stores, UpdateSettings
from sidecar.sillytavern.chatfile import ChatFile, ChatFileChanged
from sidecar.sillytavern.discovery import ChatLocation, DiscoveryOptions, locate_chat
from sidecar.storage.catalog_tables import chats, rederive

log = logging.getLogger(__name__)

READ_ATTEMPTS = 3  # a file written in place while it is read is read again, this many times
DEFAULT_RENAME_WINDOW = 5.0


class ChatIndexer:
    """Indexes chat files of one data root into the catalog and the extension databases.

    ``observed`` (epoch seconds, default now) is when sidecar learned of the change being
    indexed: the watcher's event, or the start of a full pass. Renames are paired by it."""

    def __init__(
        self,
        stores: Stores,
        root: Path,
        settings: UpdateSettings,
        discovery: DiscoveryOptions | None = None,
        *,
        rename_window: float = DEFAULT_RENAME_WINDOW,
    ) -> None:
        self.stores = stores
        self.catalog = stores.catalog
        self.database_for = stores.database_for
        self.root = root
        self.settings = settings
        self.discovery = discovery or DiscoveryOptions()
        self.rename_window = rename_window

    def _chat_at(self, conn: Connection, rel_path: str) -> Any:
        return conn.execute(select(chats).where(chats.c.rel_path == rel_path)).first()

    # -- entry points ------------------------------------------------------------------------

    def index_path(self, path: Path, *, observed: float | None = None) -> IndexResult | None:
        """Index whatever is now at ``path`` (for the watcher); None when it is not a chat."""
        location = locate_chat(self.root, path, self.discovery)
        return None if location is None else self.index_location(location, observed=observed)

    def index_location(self, loc: ChatLocation, *, observed: float | None = None) -> IndexResult:
        when = time.time() if observed is None else observed
        for _ in range(READ_ATTEMPTS):
            try:
                return self._index_once(loc, when)
            except ChatFileChanged as exc:  # everything it wrote was rolled back
                log.info("%s: %s; reading it again", loc.relative_path, exc)
        reason = f"the file changed each time it was read ({READ_ATTEMPTS} times); see next save"
        return IndexResult(None, "skipped", problems=[(0, reason)])

    # -- one file ------------------------------------------------------------------------------

    def _index_once(self, loc: ChatLocation, observed: float) -> IndexResult:
        try:
            info = os.stat(loc.path)
        except FileNotFoundError:
            return self.mark_missing(loc.relative_path, observed=observed)
        except OSError as exc:
            return IndexResult(None, "skipped", problems=[(0, f"cannot read: {exc.strerror}")])
        if not stat.S_ISREG(info.st_mode):
            return IndexResult(None, "skipped", problems=[(0, "not a regular file")])
        with self.catalog.read() as conn:
            chat = self._chat_at(conn, loc.relative_path)
            redo = chat is not None and _rederive_reason(conn, chat.chat_id) is not None
        if (
            chat is not None
            and not redo
            and chat.sync == "ok"
            and chat.state != "missing"
            and (chat.size, chat.mtime_ns) == (info.st_size, info.st_mtime_ns)
        ):
            return IndexResult(chat.chat_id, "unchanged", messages=chat.message_count)
        try:
            with ChatFile(loc.path) as file:
                scan = file.scan()
                renamed_from = None
                if chat is None:
                    with self.catalog.write() as conn:
                        chat, renamed_from = renames.adopt_vanished(
                            conn, loc, scan.file_hash, observed, self.rename_window
                        )
                    redo = chat is not None and self._rederive_pending(chat.chat_id)
                if (
                    chat is not None
                    and not redo
                    and chat.sync == "ok"
                    and chat.file_hash == scan.file_hash
                ):
                    self._same_content(chat.chat_id, scan.size, scan.mtime_ns)
                    return IndexResult(
                        chat.chat_id,
                        "renamed" if renamed_from else "unchanged",
                        messages=chat.message_count,
                        size=scan.size,
                        renamed_from=renamed_from,
                    )
                update = ChatUpdate(
                    self.stores,
                    self.settings,
                    loc,
                    chat,
                    rederive=redo,
                    first_seen=renames.iso_at(min(observed, time.time())),
                )
                result = update.run(file, scan)
        except FileNotFoundError:
            return self.mark_missing(loc.relative_path, observed=observed)
        except OSError as exc:
            return IndexResult(None, "skipped", problems=[(0, f"cannot read: {exc.strerror}")])
        if redo:
            self._rederived(result)
        if renamed_from:
            result.status, result.renamed_from = "renamed", renamed_from
        elif result.status == "new" or (result.status == "updated" and chat is not None):
            return self._absorbed(result, observed) or result
        return result

    def _rederive_pending(self, chat_id: str) -> bool:
        with self.catalog.read() as conn:
            return _rederive_reason(conn, chat_id) is not None

    def _rederived(self, result: IndexResult) -> None:
        """A re-derivation is done (announced as one chat-level ``updated`` event, never key by
        key): forget the request."""
        with self.catalog.write() as conn:
            conn.execute(rederive.delete().where(rederive.c.chat_id == result.chat_id))
        result.rederived = True

    def _absorbed(self, result: IndexResult, observed: float) -> IndexResult | None:
        """A copy indexed before it was complete (SillyTavern copies a folder to rename a
        character) did not match its original when the original vanished; once its content equals
        that missing chat's last content, it is that chat, renamed: merge it into the original."""
        with self.catalog.read() as conn:
            copy = conn.execute(select(chats).where(chats.c.chat_id == result.chat_id)).one()
            original = renames.original_of(conn, copy, observed, self.rename_window)
        if original is None:
            return None
        renames.merge_copy(self.stores, self.settings, original, copy, same_content=True)
        return IndexResult(
            original.chat_id,
            "renamed",
            messages=original.message_count,
            size=result.size,
            renamed_from=original.rel_path,
        )

    def _same_content(self, chat_id: str, size: int, mtime_ns: int) -> None:
        """The file was touched or came back, but its bytes are what was indexed."""
        with self.catalog.write() as conn:
            conn.execute(
                chats.update()
                .where(chats.c.chat_id == chat_id)
                .values(
                    size=size,
                    mtime_ns=mtime_ns,
                    missing_since=None,
                    state=renames.state_back(conn, chat_id),
                )
            )

    # -- vanished files ------------------------------------------------------------------------

    def mark_missing(
        self, rel_path: str, *, observed: float | None = None, merge_copies: bool = True
    ) -> IndexResult:
        """The file is gone: keep everything and mark the chat missing, or, when the watcher saw
        a copy of it appear just before (a rename by copy then delete), merge that copy into it.
        A full pass marks the vanished chats first with ``merge_copies`` False: any chat it
        already has was there before this pass, so it is not a copy made to rename this one (a
        copy found in the same pass is recognised when it is indexed)."""
        when = time.time() if observed is None else observed
        with self.catalog.read() as conn:
            chat = self._chat_at(conn, rel_path)
        if chat is None:
            return IndexResult(None, "skipped")
        if chat.state == "missing":
            return IndexResult(chat.chat_id, "unchanged")
        if chat.sync == "pending":  # a crash interrupted its update: settle it first
            location = locate_chat(self.root, self.root / rel_path, self.discovery)
            if not settle_if_pending(self.stores, self.settings, location, chat):
                return IndexResult(None, "skipped")
        copy = None
        if merge_copies:
            with self.catalog.read() as conn:
                copy = renames.live_copy_of(conn, chat, when, self.rename_window)
        if copy is not None:
            renames.merge_copy(self.stores, self.settings, chat, copy, same_content=True)
            return IndexResult(
                chat.chat_id, "renamed", messages=chat.message_count, renamed_from=chat.rel_path
            )
        with self.catalog.write() as conn:
            conn.execute(
                chats.update()
                .where(chats.c.chat_id == chat.chat_id)
                .values(state="missing", missing_since=renames.iso_at(when))
            )
            announce_chat(conn, "missing", chat.chat_id, user=chat.user, at=utc_now_iso(),
                          message_count=chat.message_count)  # fmt: skip
        log.info("chat %s is missing: %s", chat.chat_id, rel_path)
        return IndexResult(chat.chat_id, "missing", messages=chat.message_count)

    def catalogued_under(self, folder: Path) -> list[Path]:
        """Absolute paths of the not-missing chats catalogued inside ``folder`` (for a folder that
        was deleted or renamed as a whole)."""
        try:
            prefix = folder.relative_to(self.root).as_posix()
        except ValueError:
            return []
        with self.catalog.read() as conn:
            paths = (
                conn.execute(
                    select(chats.c.rel_path).where(
                        chats.c.state != "missing", chats.c.rel_path.startswith(prefix + "/")
                    )
                )
                .scalars()
                .all()
            )
        return [self.root / path for path in paths]

    def missing_paths(self, seen: set[str]) -> list[str]:
        """Catalogued, not-missing chats whose path is not in ``seen`` (for a full scan)."""
        with self.catalog.read() as conn:
            paths = (
                conn.execute(select(chats.c.rel_path).where(chats.c.state != "missing"))
                .scalars()
                .all()
            )
        return [path for path in paths if path not in seen]


def _rederive_reason(conn: Connection, chat_id: str) -> str | None:
    reason: str | None = conn.execute(
        select(rederive.c.reason).where(rederive.c.chat_id == chat_id)
    ).scalar()
    return reason
