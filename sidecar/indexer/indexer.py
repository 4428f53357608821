"""The chat indexer: decides per file whether anything must be done, recognises renamed chats, and
marks vanished chats missing (never purged)."""

from __future__ import annotations

import logging
import os
import stat
from pathlib import Path
from typing import Any

import msgspec
from sqlalchemy import Connection, desc, select

from sidecar.clock import utc_now_iso
from sidecar.indexer import extsync
from sidecar.indexer.feed import announce_chat
from sidecar.indexer.update import ChatUpdate
from sidecar.indexer.update_settle import settle_if_pending
from sidecar.indexer.update_state import IndexResult, Stores, UpdateSettings
from sidecar.sillytavern.chatfile import ChatFile, ChatFileChanged
from sidecar.sillytavern.discovery import ChatLocation, DiscoveryOptions, locate_chat
from sidecar.sillytavern.messages import chat_namespaces
from sidecar.storage.catalog_tables import chats, messages, problems, versions

log = logging.getLogger(__name__)

READ_ATTEMPTS = 3  # a file written in place while it is read is read again, this many times


def _location_values(loc: ChatLocation) -> dict[str, Any]:
    group = loc.group
    return {
        "rel_path": loc.relative_path,
        "file_name": loc.file_name,
        "user": loc.user,
        "kind": loc.kind,
        "character": loc.character,
        "group_id": group.group_id if group else None,
        "group_name": group.name if group else None,
        "group_members": msgspec.json.encode(list(group.members)).decode() if group else None,
    }


class ChatIndexer:
    """Indexes chat files of one data root into the catalog and the extension databases."""

    def __init__(
        self,
        stores: Stores,
        root: Path,
        settings: UpdateSettings,
        discovery: DiscoveryOptions | None = None,
    ) -> None:
        self.stores = stores
        self.catalog = stores.catalog
        self.database_for = stores.database_for
        self.root = root
        self.settings = settings
        self.discovery = discovery or DiscoveryOptions()

    def _chat_at(self, conn: Connection, rel_path: str) -> Any:
        return conn.execute(select(chats).where(chats.c.rel_path == rel_path)).first()

    # -- entry points ------------------------------------------------------------------------

    def index_path(self, path: Path) -> IndexResult | None:
        """Index whatever is now at ``path`` (for the watcher); None when it is not a chat."""
        location = locate_chat(self.root, path, self.discovery)
        return None if location is None else self.index_location(location)

    def index_location(self, loc: ChatLocation) -> IndexResult:
        for _ in range(READ_ATTEMPTS):
            try:
                return self._index_once(loc)
            except ChatFileChanged as exc:  # everything it wrote was rolled back
                log.info("%s: %s; reading it again", loc.relative_path, exc)
        reason = f"the file changed each time it was read ({READ_ATTEMPTS} times); see next save"
        return IndexResult(None, "skipped", problems=[(0, reason)])

    def _index_once(self, loc: ChatLocation) -> IndexResult:
        try:
            info = os.stat(loc.path)
        except FileNotFoundError:
            return self.mark_missing(loc.relative_path)
        except OSError as exc:
            return IndexResult(None, "skipped", problems=[(0, f"cannot read: {exc.strerror}")])
        if not stat.S_ISREG(info.st_mode):
            return IndexResult(None, "skipped", problems=[(0, "not a regular file")])
        with self.catalog.read() as conn:
            chat = self._chat_at(conn, loc.relative_path)
        if (
            chat is not None
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
                    chat, renamed_from = self._adopt_renamed(loc, scan.file_hash)
                if chat is not None and chat.sync == "ok" and chat.file_hash == scan.file_hash:
                    self._same_content(chat.chat_id, scan.size, scan.mtime_ns)
                    return IndexResult(
                        chat.chat_id,
                        "renamed" if renamed_from else "unchanged",
                        messages=chat.message_count,
                        size=scan.size,
                        renamed_from=renamed_from,
                    )
                result = ChatUpdate(self.stores, self.settings, loc, chat).run(file, scan)
        except FileNotFoundError:
            return self.mark_missing(loc.relative_path)
        except OSError as exc:
            return IndexResult(None, "skipped", problems=[(0, f"cannot read: {exc.strerror}")])
        if renamed_from:
            result.status, result.renamed_from = "renamed", renamed_from
        elif result.status == "new" or (result.status == "updated" and chat is not None):
            return self._absorbed(result) or result
        return result

    def _absorbed(self, result: IndexResult) -> IndexResult | None:
        """A copy indexed before it was complete (SillyTavern copies a folder to rename a
        character) did not match its original when the original vanished; once its content equals
        that missing chat's last content, it is that chat, renamed: merge it into the original."""
        with self.catalog.read() as conn:
            copy = conn.execute(select(chats).where(chats.c.chat_id == result.chat_id)).one()
            original = conn.execute(
                select(chats)
                .where(
                    chats.c.state == "missing",
                    chats.c.user == copy.user,
                    chats.c.file_hash == copy.file_hash,
                    chats.c.chat_id != copy.chat_id,
                )
                .order_by(desc(chats.c.missing_since))
            ).first()
        if original is None:
            return None
        self._merge_copy(original, copy)
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
                    state=_state_back(conn, chat_id),
                )
            )

    # -- renames and vanished files ------------------------------------------------------------

    def _adopt_renamed(self, loc: ChatLocation, file_hash: bytes) -> tuple[Any, str | None]:
        """A new file with exactly the content of a chat that went missing is that chat, moved
        (SillyTavern renames by copy + delete; a character rename moves a whole folder)."""
        with self.catalog.write() as conn:
            chat = conn.execute(
                select(chats)
                .where(
                    chats.c.state == "missing",
                    chats.c.user == loc.user,
                    chats.c.file_hash == file_hash,
                )
                .order_by(desc(chats.c.missing_since))
            ).first()
            if chat is None:
                return None, None
            conn.execute(
                chats.update()
                .where(chats.c.chat_id == chat.chat_id)
                .values(
                    **_location_values(loc),
                    state=_state_back(conn, chat.chat_id),
                    missing_since=None,
                )
            )
            announce_chat(conn, "renamed", chat.chat_id, user=loc.user, at=utc_now_iso(),
                          message_count=chat.message_count)  # fmt: skip
            log.info("chat %s renamed: %s -> %s", chat.chat_id, chat.rel_path, loc.relative_path)
            return self._chat_at(conn, loc.relative_path), chat.rel_path

    def mark_missing(self, rel_path: str) -> IndexResult:
        """The file is gone: keep everything, mark the chat missing, or merge a copy (rename)."""
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
        with self.catalog.read() as conn:
            copy = conn.execute(
                select(chats).where(
                    chats.c.state != "missing",
                    chats.c.user == chat.user,
                    chats.c.file_hash == chat.file_hash,
                    chats.c.chat_id != chat.chat_id,
                    chats.c.first_seen >= chat.first_seen,
                )
            ).first()
        if copy is not None:
            self._merge_copy(chat, copy)
            return IndexResult(
                chat.chat_id, "renamed", messages=chat.message_count, renamed_from=chat.rel_path
            )
        now = utc_now_iso()
        with self.catalog.write() as conn:
            conn.execute(
                chats.update()
                .where(chats.c.chat_id == chat.chat_id)
                .values(state="missing", missing_since=now)
            )
            announce_chat(conn, "missing", chat.chat_id, user=chat.user, at=now,
                          message_count=chat.message_count)  # fmt: skip
        log.info("chat %s is missing: %s", chat.chat_id, rel_path)
        return IndexResult(chat.chat_id, "missing", messages=chat.message_count)

    def _merge_copy(self, original: Any, copy: Any) -> None:
        """``copy`` was indexed as a new chat before ``original`` vanished: it was a rename. The
        original keeps its id and history and takes the copy's place; the copy's rows go. The
        copy is marked pending first: if this is interrupted, the copy is resynced and merged
        again."""
        with self.catalog.write() as conn:
            conn.execute(
                chats.update().where(chats.c.chat_id == copy.chat_id).values(sync="pending")
            )
        with self.catalog.read() as conn:
            names = (
                conn.execute(
                    select(messages.c.namespaces).where(messages.c.chat_id == copy.chat_id)
                )
                .scalars()
                .all()
            )
        namespaces = {ns for row in names for ns in msgspec.json.decode(row)}
        if copy.metadata_json:
            namespaces |= set(chat_namespaces(msgspec.json.decode(copy.metadata_json)))
        for ext in {self.settings.policy.extension_for(ns) for ns in namespaces} - {None}:
            db = self.database_for(ext) if ext else None
            if db is not None:
                with db.write() as ext_conn:
                    extsync.delete_chat_rows(ext_conn, copy.chat_id)
        with self.catalog.write() as conn:
            for table in (messages, versions, problems, chats):
                conn.execute(table.delete().where(table.c.chat_id == copy.chat_id))
            conn.execute(
                chats.update()
                .where(chats.c.chat_id == original.chat_id)
                .values(
                    rel_path=copy.rel_path,
                    file_name=copy.file_name,
                    user=copy.user,
                    kind=copy.kind,
                    character=copy.character,
                    group_id=copy.group_id,
                    group_name=copy.group_name,
                    group_members=copy.group_members,
                    size=copy.size,
                    mtime_ns=copy.mtime_ns,
                    missing_since=None,
                    state=_state_back(conn, original.chat_id),
                )
            )
            announce_chat(conn, "renamed", original.chat_id, user=copy.user, at=utc_now_iso(),
                          message_count=original.message_count)  # fmt: skip
        log.info("chat %s renamed: %s -> %s", original.chat_id, original.rel_path, copy.rel_path)

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


def _state_back(conn: Connection, chat_id: str) -> str:
    """The state of a chat whose file is back: shrunk stays shrunk, missing becomes ok."""
    state = conn.execute(select(chats.c.state).where(chats.c.chat_id == chat_id)).scalar()
    return "shrunk" if state == "shrunk" else "ok"
