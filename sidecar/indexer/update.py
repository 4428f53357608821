"""Index one chat file: diff it against the catalog's last version and write only what changed.

Protocol (crash safety across several SQLite files): the chat is first marked ``sync=pending`` in
its own small committed transaction, which also reserves the message ids this run may hand out.
Then the catalog transaction and the extension databases' transactions run side by side; the
extension databases commit first and the catalog commits last, setting ``sync=ok``. If sidecar
dies in between, the next run sees ``pending`` and resyncs the whole chat, which converges every
database to the file (see ``extsync``), so it ends where a clean run would have.
"""

from __future__ import annotations

import uuid
from contextlib import ExitStack
from typing import Any

import msgspec
from sqlalchemy import Connection, select

from sidecar.clock import utc_now_iso
from sidecar.indexer import extsync
from sidecar.indexer.chat_level import (
    chat_level_data,
    chat_metadata,
    chat_state,
    header_columns,
    reserve_message_ids,
)
from sidecar.indexer.diff import Block, diff_lines
from sidecar.indexer.parse import MESSAGE_FIELDS, encode_json, message_record, parse_line
from sidecar.indexer.update_state import (
    IndexResult,
    OldMessage,
    Stores,
    UpdateSettings,
    Walk,
    load_old_messages,
)
from sidecar.indexer.versions import choose_encoding, pack_hashes, unpack_hashes
from sidecar.sillytavern.chatfile import ChatFile, Scan
from sidecar.sillytavern.discovery import ChatLocation
from sidecar.sillytavern.messages import chat_namespaces, is_header
from sidecar.storage.catalog_tables import chats, lines, messages, problems, versions
from sidecar.storage.sqlite import executemany

BATCH = 1000
MAX_CHANGES = 10_000  # per file, for the change feed; a bigger rewrite is one "updated" event
MIN_MESSAGES_FOR_SHRINK = 4

_INSERT_MESSAGE = (
    "INSERT OR REPLACE INTO messages (msg_uid, chat_id, position, line_no, line_hash, "
    + ", ".join(MESSAGE_FIELDS)
    + ") VALUES ("
    + ", ".join("?" * (5 + len(MESSAGE_FIELDS)))
    + ")"
)
_MOVE = "UPDATE messages SET position = ?, line_no = ? WHERE msg_uid = ?"
_INSERT_LINE = "INSERT OR IGNORE INTO lines (hash, pack, offset, length) VALUES (?, ?, ?, ?)"


class ChatUpdate:
    """One run of indexing one file (see the module docstring for the protocol)."""

    def __init__(
        self,
        stores: Stores,
        settings: UpdateSettings,
        location: ChatLocation,
        chat: Any | None,
    ) -> None:
        self.catalog = stores.catalog
        self.line_store = stores.lines
        self.database_for = stores.database_for
        self.settings = settings
        self.location = location
        self.chat = chat
        self.now = utc_now_iso()
        self.chat_id: str = chat.chat_id if chat is not None else uuid.uuid4().hex[:16]
        self.resync = chat is None or chat.sync == "pending"
        self.result = IndexResult(self.chat_id, "new" if chat is None else "updated")
        self._ext_conns: dict[str, Connection | None] = {}
        self._targets: dict[str, list[extsync.MessageTarget]] = {}
        self._first_uid = 0

    def run(self, file: ChatFile, scan: Scan) -> IndexResult:
        self._mark_pending(scan)
        old_hashes = unpack_hashes(self.chat.line_hashes) if self.chat is not None else []
        with self.catalog.read() as conn:
            old = load_old_messages(conn, self.chat_id) if self.chat is not None else {}
        blocks = diff_lines(old_hashes, scan.hashes)
        with ExitStack() as stack:
            # Extension transactions are entered later, so they commit before the catalog's.
            conn = stack.enter_context(self.catalog.write())
            walk = self._plan(blocks, old, len(scan.hashes))
            self._walk(conn, stack, file, scan, walk)
            self._close_walk(conn, stack, walk)
            self._finish(conn, scan, blocks, walk)
        self.result.size = scan.size
        return self.result

    # -- before: pending mark and id reservation ---------------------------------------------

    def _mark_pending(self, scan: Scan) -> None:
        with self.catalog.write() as conn:
            if self.chat is None:
                loc, group = self.location, self.location.group
                conn.execute(
                    chats.insert().values(
                        chat_id=self.chat_id, user=loc.user, kind=loc.kind,
                        character=loc.character,
                        group_id=group.group_id if group else None,
                        group_name=group.name if group else None,
                        group_members=encode_json(list(group.members)) if group else None,
                        file_name=loc.file_name, rel_path=loc.relative_path, size=scan.size,
                        first_seen=self.now, last_indexed=self.now, last_changed=self.now,
                        sync="pending",
                    )
                )  # fmt: skip
            else:
                pending = chats.update().where(chats.c.chat_id == self.chat_id)
                conn.execute(pending.values(sync="pending"))
            self._first_uid = reserve_message_ids(conn, len(scan.hashes))

    # -- the walk over the new file ----------------------------------------------------------

    def _plan(self, blocks: list[Block], old: dict[int, OldMessage], count: int) -> Walk:
        walk = Walk(old=old, next_uid=self._first_uid, origin=[None] * count, block_of=[0] * count)
        for index, block in enumerate(blocks):
            for offset in range(block.b1 - block.b0):
                walk.origin[block.b0 + offset] = block.a0 + offset if block.equal else None
                walk.block_of[block.b0 + offset] = index
            if not block.equal:  # old messages of a change block: edited lines reuse their id
                walk.pools[index] = [old[k] for k in range(block.a0, block.a1) if k in old]
        walk.old_header = self.chat.header_line if self.chat is not None else None
        return walk

    def _walk(
        self, conn: Connection, stack: ExitStack, file: ChatFile, scan: Scan, walk: Walk
    ) -> None:
        count = len(scan.hashes)
        wanted = [
            self.resync or o is None or (o not in walk.old and o != walk.old_header)
            for o in walk.origin
        ]
        reader = file.lines(scan, wanted)
        upcoming = next(reader, None)
        for j in range(count):
            if upcoming is not None and upcoming[0] == j:
                line = upcoming[1]
                upcoming = next(reader, None)
            else:  # unchanged: an old message, or the old header
                o = walk.origin[j]
                entry = walk.old.get(o) if o is not None else None
                if entry is not None:
                    self._carry(walk, entry, j)
                    continue
                if not walk.seen_object:
                    walk.header_line, walk.seen_object = j, True
                    continue
                # The old header now follows other objects, so it counts as a message.
                line = file.line(scan, j)
            if walk.origin[j] is None:
                walk.new_lines.append((scan.hashes[j], line))
            self._take(walk, j, line, scan.hashes[j])
            if len(walk.inserts) >= BATCH:
                self._write_batch(conn, stack, walk)

    def _carry(self, walk: Walk, entry: OldMessage, j: int) -> None:
        """An unchanged message: at most its position moves."""
        walk.seen_object = True
        walk.carried.add(entry.msg_uid)
        if entry.position != walk.position or entry.line_no != j + 1:
            walk.moves.append((walk.position, j + 1, entry.msg_uid))
        if entry.problems:
            for reason in msgspec.json.decode(entry.problems):
                walk.problem_rows.append(self._problem(j + 1, reason))
        walk.position += 1

    def _take(self, walk: Walk, j: int, line: bytes, line_hash: bytes) -> None:
        """A line to parse: changed, new, blank or bad, or everything during a resync."""
        parsed = parse_line(line)
        self.result.parsed_lines += 1
        if parsed.kind == "blank":
            return
        if parsed.obj is None:
            walk.problem_rows.append(self._problem(j + 1, parsed.reason or "unreadable line"))
            return
        if not walk.seen_object:
            walk.seen_object = True
            if is_header(parsed.obj):
                walk.header_line, walk.header_obj = j, parsed.obj
                return
        reuse = self._reuse(walk, j)
        record = message_record(parsed.obj, self.settings.policy, self.settings.top_level_fields)
        if reuse is None:
            uid = walk.next_uid
            walk.next_uid += 1
            self.result.new_messages += 1
        else:
            uid = reuse.msg_uid
            walk.carried.add(uid)
            if walk.origin[j] is None:
                self.result.edited_messages += 1
        walk.inserts.append((uid, self.chat_id, walk.position, j + 1, line_hash, *record.values))
        walk.problem_rows.extend(self._problem(j + 1, reason) for reason in record.problems)
        extensions = set(record.data)
        if reuse is not None:
            extensions |= self._extensions_of(reuse.namespaces)
        # A new id has no stored rows, unless this resyncs a chat an interrupted run touched.
        fresh = reuse is None and (self.chat is None or not self.resync)
        for ext in extensions:
            items = record.data.get(ext, [])
            target = extsync.MessageTarget(uid, walk.position, items, fresh=fresh)
            self._targets.setdefault(ext, []).append(target)
        walk.position += 1

    @staticmethod
    def _reuse(walk: Walk, j: int) -> OldMessage | None:
        origin = walk.origin[j]
        if origin is not None:  # an unchanged line parsed again (resync): the same message
            return walk.old.get(origin)
        pool = walk.pools.get(walk.block_of[j])
        return pool.pop(0) if pool else None

    def _problem(self, line_no: int, reason: str) -> dict[str, Any]:
        self.result.problems.append((line_no, reason))
        return {"chat_id": self.chat_id, "line_no": line_no, "reason": reason}

    # -- writing -----------------------------------------------------------------------------

    def _ext(self, stack: ExitStack, extension_id: str) -> Connection | None:
        if extension_id not in self._ext_conns:
            db = self.database_for(extension_id)
            self._ext_conns[extension_id] = None if db is None else stack.enter_context(db.write())
        return self._ext_conns[extension_id]

    def _extensions_of(self, namespaces: list[str]) -> set[str]:
        found = {self.settings.policy.extension_for(ns) for ns in namespaces}
        return {ext for ext in found if ext is not None}

    def _count(self, counts: extsync.SyncCounts) -> None:
        self.result.data_written += counts.written
        self.result.data_deleted += counts.deleted
        self.result.history += counts.history
        if self.chat is not None and len(self.result.changes) < MAX_CHANGES:
            self.result.changes.extend(counts.changes[: MAX_CHANGES - len(self.result.changes)])

    def _write_batch(
        self, conn: Connection, stack: ExitStack, walk: Walk, gone: str = "message_deleted"
    ) -> None:
        if walk.new_lines:
            self._store_lines(conn, walk.new_lines)
        executemany(conn, _INSERT_MESSAGE, walk.inserts)
        if walk.moves:
            executemany(conn, _MOVE, walk.moves)
            self.result.moved_messages += len(walk.moves)
        walk.new_lines, walk.inserts, walk.moves = [], [], []
        for ext, targets in self._targets.items():
            ext_conn = self._ext(stack, ext)
            if ext_conn is not None:
                self._count(
                    extsync.sync_messages(
                        ext_conn, self.chat_id, targets, now=self.now, gone_reason=gone
                    )
                )
        self._targets.clear()

    def _store_lines(self, conn: Connection, new: list[tuple[bytes, bytes]]) -> None:
        """Append lines the store does not hold yet; record where they went."""
        unique = dict(new)
        known: set[bytes] = set()
        hashes = list(unique)
        for start in range(0, len(hashes), 500):
            chunk = hashes[start : start + 500]
            known.update(
                conn.execute(select(lines.c.hash).where(lines.c.hash.in_(chunk))).scalars()
            )
        rows = []
        for digest, data in unique.items():
            if digest not in known:
                ref = self.line_store.append(data)
                rows.append((digest, ref.pack, ref.offset, ref.length))
        executemany(conn, _INSERT_LINE, rows)

    def _close_walk(self, conn: Connection, stack: ExitStack, walk: Walk) -> None:
        """Removed messages, stray rows after a crash, chat-level data."""
        removed = [entry for entry in walk.old.values() if entry.msg_uid not in walk.carried]
        walk.shrunk = (
            len(walk.old) >= MIN_MESSAGES_FOR_SHRINK
            and walk.position <= len(walk.old) * self.settings.shrink_ratio
        )
        gone = "chat_shrunk" if walk.shrunk else "message_deleted"
        for entry in removed:
            for ext in self._extensions_of(entry.namespaces):
                target = extsync.MessageTarget(entry.msg_uid, entry.position, [], exists=False)
                self._targets.setdefault(ext, []).append(target)
        self._write_batch(conn, stack, walk, gone)
        if removed:
            uids = [entry.msg_uid for entry in removed]
            conn.execute(messages.delete().where(messages.c.msg_uid.in_(uids)))
        if self.resync:
            known = (
                conn.execute(select(messages.c.msg_uid).where(messages.c.chat_id == self.chat_id))
                .scalars()
                .all()
            )
            old_exts = {e for m in walk.old.values() for e in self._extensions_of(m.namespaces)}
            for ext in set(self._ext_conns) | old_exts:
                ext_conn = self._ext(stack, ext)
                if ext_conn is not None:
                    extsync.drop_unknown_messages(ext_conn, self.chat_id, known)
        if walk.header_obj is not None or walk.header_line is None or self.resync:
            self._sync_chat_level(stack, walk.header_obj, gone)
        self.result.removed_messages = len(removed)
        self.result.messages = walk.position
        self.result.shrunk = walk.shrunk

    def _sync_chat_level(
        self, stack: ExitStack, header_obj: dict[str, Any] | None, gone: str
    ) -> None:
        metadata = chat_metadata(self.location, header_obj)
        wanted = chat_level_data(self.settings.policy, metadata)
        previous: list[str] = []
        if self.chat is not None and self.chat.metadata_json:
            previous = list(chat_namespaces(msgspec.json.decode(self.chat.metadata_json)))
        for ext in set(wanted) | self._extensions_of(previous):
            conn = self._ext(stack, ext)
            if conn is not None:
                self._count(
                    extsync.sync_chat(
                        conn, self.chat_id, wanted.get(ext, {}), now=self.now, gone_reason=gone
                    )
                )

    def _finish(self, conn: Connection, scan: Scan, blocks: list[Block], walk: Walk) -> None:
        previous = self.chat.version if self.chat is not None else 0
        version = previous + 1
        is_full, ops = choose_encoding(version, blocks, scan.hashes)
        conn.execute(versions.insert().values(
            chat_id=self.chat_id, version=version, seen_at=self.now,
            rel_path=self.location.relative_path, size=scan.size, message_count=walk.position,
            file_hash=scan.file_hash, bom=scan.bom, trailing_newline=scan.trailing_newline,
            base_version=None if is_full else previous, ops=ops,
        ))  # fmt: skip
        conn.execute(problems.delete().where(problems.c.chat_id == self.chat_id))
        if walk.problem_rows:
            conn.execute(problems.insert(), walk.problem_rows)
        values: dict[str, Any] = {
            "message_count": walk.position, "size": scan.size, "mtime_ns": scan.mtime_ns,
            "file_hash": scan.file_hash, "line_hashes": pack_hashes(scan.hashes),
            "bom": scan.bom, "trailing_newline": scan.trailing_newline,
            "header_line": walk.header_line, "version": version, "sync": "ok",
            "last_indexed": self.now, "last_changed": self.now, "missing_since": None,
            **chat_state(self.chat, walk.shrunk, walk.position),
        }  # fmt: skip
        if walk.header_obj is not None or walk.header_line is None:
            values |= header_columns(self.location, walk.header_obj)
        conn.execute(chats.update().where(chats.c.chat_id == self.chat_id).values(**values))
        self.line_store.sync()  # the lines this version refers to are on disk before it commits
