"""Index one chat file: diff it against the catalog's last version and write only what changed.

Protocol (crash safety across several SQLite files): the chat is first marked ``sync=pending`` in
its own small committed transaction, which also reserves the message ids this run may hand out.
Then the catalog transaction and the extension databases' transactions run side by side; the
extension databases commit first and the catalog commits last, setting ``sync=ok``. If sidecar
dies in between, the next run sees ``pending`` and resyncs the whole chat, which converges every
database to the file (see ``extsync``), so it ends where a clean run would have. Such a resync
looks in every extension database, not only those the chat's messages name: the interrupted run
may have written rows for namespaces that the file no longer has. (A pending chat whose file is
gone is settled from its last recorded version instead: ``update_settle``.)

This module walks the new file and decides what each line is; the writes are made by
``update_catalog.CatalogSide`` (pending mark, messages and lines, the final commit) and
``update_extensions.ExtensionSide`` (the extension databases, and the resync's sweep of them).
"""

from __future__ import annotations

import uuid
from functools import partial
from typing import Any

import msgspec
from sqlalchemy import Connection

from sidecar.clock import utc_now_iso
from sidecar.indexer import extsync
from sidecar.indexer.batches import BatchWriter
from sidecar.indexer.diff import Block, diff_lines
from sidecar.indexer.feed import events_of
from sidecar.indexer.parse import MESSAGE_FIELDS, message_record, parse_line
from sidecar.indexer.update_catalog import CatalogSide
from sidecar.indexer.update_extensions import ExtensionSide
from sidecar.indexer.update_state import (
    Batch,
    IndexResult,
    OldMessage,
    Stores,
    UpdateSettings,
    Walk,
    load_old_messages,
)
from sidecar.indexer.versions import unpack_hashes
from sidecar.sillytavern.chatfile import ChatFile, Scan, check_lines
from sidecar.sillytavern.discovery import ChatLocation
from sidecar.sillytavern.messages import header_problems, is_header
from sidecar.storage.event_log import append_events
from sidecar.storage.lost_lines import restore_lost_lines
from sidecar.storage.segment import segment

BATCH = 250  # messages per batch written (on a helper thread while the walk goes on)
TEXT = 5 + MESSAGE_FIELDS.index("text")  # where a message row (``Walk.inserts``) has the text
MIN_MESSAGES_FOR_SHRINK = 4


class ChatUpdate:
    """One run of indexing one file (see the module docstring for the protocol)."""

    def __init__(
        self,
        stores: Stores,
        settings: UpdateSettings,
        location: ChatLocation,
        chat: Any | None,
        *,
        rederive: bool = False,
        first_seen: str | None = None,
    ) -> None:
        self.catalog = stores.catalog
        self.segments = stores.segments
        self.settings = settings
        self.location = location
        self.chat = chat
        self.now = utc_now_iso()
        self.chat_id: str = chat.chat_id if chat is not None else uuid.uuid4().hex[:16]
        # A re-derivation (the settings that shape the rows changed, see ``rederive``) is a
        # resync that looks in every extension database, like finishing an interrupted update.
        self.resync = rederive or chat is None or chat.sync == "pending"
        self.recovering = rederive or (chat is not None and chat.sync == "pending")
        self.result = IndexResult(self.chat_id, "new" if chat is None else "updated")
        self.book = CatalogSide(
            stores, location, chat, chat_id=self.chat_id, now=self.now, first_seen=first_seen
        )
        self.exts = ExtensionSide(
            stores,
            settings.policy,
            self.result,
            chat_id=self.chat_id,
            now=self.now,
            recovering=self.recovering,
            feed=chat is not None and not rederive,  # a re-derived chat is one "updated" event
        )
        self._first_uid = 0
        self._writer = BatchWriter()

    def run(self, file: ChatFile, scan: Scan) -> IndexResult:
        self._first_uid = self.book.mark_pending(scan)
        old_hashes = unpack_hashes(self.chat.line_hashes) if self.chat is not None else []
        with self.catalog.read() as conn:
            old = load_old_messages(conn, self.chat_id) if self.chat is not None else {}
            header_notes = self.book.old_header_problems(conn)
        blocks = diff_lines(old_hashes, scan.hashes)
        # The extension transactions are entered inside the catalog's, so they commit before it.
        with self.catalog.write() as conn, self.exts:
            walk = self._plan(blocks, old, len(scan.hashes))
            walk.old_header_problems = header_notes
            try:
                self._walk(conn, file, scan, walk)
                self._writer.wait()  # a batch that failed fails the update
            finally:
                self._writer.close()  # before the transactions end, whatever happened
            self._close_walk(conn, scan, walk)
            if self.book.line_store.lost:  # a pack file lost bytes: store this file's again
                restore_lost_lines(conn, self.book.line_store, scan.hashes,
                                   lambda j: file.line(scan, j))  # fmt: skip
            self.book.finish(conn, scan, blocks, walk)
            previous = self.chat.message_count if self.chat is not None else None
            events = events_of(
                self.result, user=self.location.user, at=self.now, previous_count=previous
            )
            append_events(conn, events)
            # Written in place meanwhile (SillyTavern never does): roll all of it back.
            file.check_unchanged(scan)
        self.result.size = scan.size
        return self.result

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

    def _walk(self, conn: Connection, file: ChatFile, scan: Scan, walk: Walk) -> None:
        count = len(scan.hashes)
        wanted = [
            self.resync or o is None or (o not in walk.old and o != walk.old_header)
            for o in walk.origin
        ]
        reader = file.lines(scan, wanted, unchecked=walk.unchecked)
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
                    walk.problem_rows.extend(
                        self._problem(j + 1, reason) for reason in walk.old_header_problems
                    )
                    continue
                # The old header now follows other objects, so it counts as a message.
                line = file.line(scan, j)
            if walk.origin[j] is None:
                walk.new_lines.append((scan.hashes[j], line))
            self._take(walk, j, line, scan.hashes[j])
            if len(walk.inserts) >= BATCH:
                self._writer.submit(
                    partial(self._write, conn, scan, walk.take_batch(), self.exts.take_targets())
                )

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
                for reason in (*parsed.notes, *header_problems(parsed.obj)):
                    walk.problem_rows.append(self._problem(j + 1, reason))
                return
        reuse = self._reuse(walk, j)
        record = message_record(
            parsed.obj, self.settings.policy, self.settings.top_level_fields, notes=parsed.notes
        )
        if reuse is None:
            uid = walk.next_uid
            walk.next_uid += 1
            self.result.new_messages += 1
        else:
            uid = reuse.msg_uid
            walk.carried.add(uid)
            if walk.origin[j] is None:
                self.result.edited_messages += 1
        row = (uid, self.chat_id, walk.position, j + 1, line_hash, *record.values)
        walk.inserts.append(row)
        if self.segments is not None:
            self._segment(walk, uid, row[TEXT], reused=reuse is not None)
        walk.problem_rows.extend(self._problem(j + 1, reason) for reason in record.problems)
        extensions = set(record.data)
        if reuse is not None:
            extensions |= self.exts.extensions_of(reuse.namespaces)
        # A new id has no stored rows, unless this resyncs a chat an interrupted run touched.
        fresh = reuse is None and (self.chat is None or not self.resync)
        for ext in extensions:
            items = record.data.get(ext, [])
            target = extsync.MessageTarget(uid, walk.position, items, fresh=fresh)
            self.exts.add(ext, target)
        walk.position += 1

    def _segment(self, walk: Walk, uid: int, text: object, *, reused: bool) -> None:
        """A bulk load: no trigger fills the catalog's segmentation table (``SegmentFill``)."""
        assert self.segments is not None
        if reused:
            self.segments.exact = False
        elif (segmented := segment(text)) is not None:
            walk.segments.append((uid, segmented))

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

    def _write(
        self,
        conn: Connection,
        scan: Scan,
        batch: Batch,
        targets: dict[str, list[extsync.MessageTarget]],
    ) -> None:
        """One batch of the walk, on the helper thread (``batches``): its lines are checked
        against the scan there too."""
        check_lines(scan, batch.unchecked)
        self.result.moved_messages += self.book.write_messages(conn, batch)
        self.exts.flush(targets=targets)

    def _write_batch(
        self, conn: Connection, scan: Scan, walk: Walk, gone: str = "message_deleted"
    ) -> None:
        batch = walk.take_batch()
        check_lines(scan, batch.unchecked)
        self.result.moved_messages += self.book.write_messages(conn, batch)
        self.exts.flush(gone)

    def _close_walk(self, conn: Connection, scan: Scan, walk: Walk) -> None:
        """Removed messages, stray rows after a crash, chat-level data."""
        removed = [entry for entry in walk.old.values() if entry.msg_uid not in walk.carried]
        walk.shrunk = (
            len(walk.old) >= MIN_MESSAGES_FOR_SHRINK
            and walk.position <= len(walk.old) * self.settings.shrink_ratio
        )
        gone = "chat_shrunk" if walk.shrunk else "message_deleted"
        for entry in removed:
            for ext in self.exts.extensions_of(entry.namespaces):
                target = extsync.MessageTarget(entry.msg_uid, entry.position, [], exists=False)
                self.exts.add(ext, target)
        self._write_batch(conn, scan, walk, gone)
        if removed:
            self.book.delete_messages(conn, [entry.msg_uid for entry in removed])
        if self.resync:
            old_exts = {e for m in walk.old.values() for e in self.exts.extensions_of(m.namespaces)}
            self.exts.drop_unknown(old_exts, self.book.message_uids(conn))
        if walk.header_obj is not None or walk.header_line is None or self.resync:
            previous = self.chat.metadata_json if self.chat is not None else None
            # A chat-level value leaves with the header's key ("removed"), or with a shrink.
            chat_gone = gone if walk.shrunk else "removed"
            self.exts.sync_chat_level(self.location, walk.header_obj, previous, chat_gone)
        self.result.removed_messages = len(removed)
        self.result.messages = walk.position
        self.result.shrunk = walk.shrunk
