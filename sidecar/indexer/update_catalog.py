"""The catalog side of one chat update: the ``sync=pending`` mark, the chat's message and line
rows, and the final commit that records the version and sets ``sync=ok``.

The order these writes take in the commit protocol is explained in ``update``.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, select

from sidecar.indexer.chat_level import chat_state, header_columns, reserve_message_ids
from sidecar.indexer.diff import Block
from sidecar.indexer.parse import MESSAGE_FIELDS, encode_json
from sidecar.indexer.update_state import Batch, Stores, Walk
from sidecar.indexer.versions import choose_encoding, pack_hashes
from sidecar.sillytavern.chatfile import Scan
from sidecar.sillytavern.discovery import ChatLocation
from sidecar.storage.catalog_tables import chats, messages, problems, versions
from sidecar.storage.fts import INSERT_MESSAGE_SEGMENT
from sidecar.storage.sqlite import executemany, fetchall

_INSERT_MESSAGE = (
    "INSERT OR REPLACE INTO messages (msg_uid, chat_id, position, line_no, line_hash, "
    + ", ".join(MESSAGE_FIELDS)
    + ") VALUES ("
    + ", ".join("?" * (5 + len(MESSAGE_FIELDS)))
    + ")"
)
_MOVE = "UPDATE messages SET position = ?, line_no = ? WHERE msg_uid = ?"
_INSERT_LINE = "INSERT OR IGNORE INTO lines (hash, pack, offset, length) VALUES (?, ?, ?, ?)"


class CatalogSide:
    """The catalog rows of the chat one update writes (``chat`` is its row before the update, or
    None for a file never indexed; ``first_seen``: when sidecar observed a new chat's file, if
    not now)."""

    def __init__(
        self,
        stores: Stores,
        location: ChatLocation,
        chat: Any | None,
        *,
        chat_id: str,
        now: str,
        first_seen: str | None = None,
    ) -> None:
        self.catalog = stores.catalog
        self.line_store = stores.lines
        self.segments = stores.segments
        self.location = location
        self.chat = chat
        self.chat_id = chat_id
        self.now = now
        self.first_seen = first_seen or now

    # -- before: pending mark and id reservation ---------------------------------------------

    def mark_pending(self, scan: Scan) -> int:
        """Mark the chat ``sync=pending`` in its own committed transaction, which also reserves
        the message ids this run may hand out; returns the first of them."""
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
                        first_seen=self.first_seen, last_indexed=self.now, last_changed=self.now,
                        sync="pending",
                    )
                )  # fmt: skip
            else:
                pending = chats.update().where(chats.c.chat_id == self.chat_id)
                conn.execute(pending.values(sync="pending"))
            return reserve_message_ids(conn, len(scan.hashes))

    def old_header_problems(self, conn: Connection) -> list[str]:
        """What was reported about the header line, kept while the header is not parsed again."""
        if self.chat is None or self.chat.header_line is None:
            return []
        rows = conn.execute(
            select(problems.c.reason).where(
                problems.c.chat_id == self.chat_id, problems.c.line_no == self.chat.header_line + 1
            )
        )
        return list(rows.scalars())

    # -- during: messages and lines ----------------------------------------------------------

    def write_messages(self, conn: Connection, batch: Batch) -> int:
        """Write a batch of lines, messages and moves; returns how many messages moved. New
        lines are deflated on a helper thread meanwhile."""
        new = self._unknown_lines(conn, batch.new_lines) if batch.new_lines else []
        encoding = self.line_store.encode_later([data for _, data in new]) if new else None
        executemany(conn, _INSERT_MESSAGE, batch.inserts)
        if batch.segments:  # a bulk load: no trigger fills the segmentation table
            executemany(conn, INSERT_MESSAGE_SEGMENT, batch.segments)
        if batch.moves:
            executemany(conn, _MOVE, batch.moves)
        if encoding is not None:
            self._store_lines(conn, new, encoding.result())
        return len(batch.moves)

    @staticmethod
    def _unknown_lines(
        conn: Connection, new: list[tuple[bytes, bytes]]
    ) -> list[tuple[bytes, bytes]]:
        """The (hash, line) pairs the store does not hold yet, each once."""
        unique = dict(new)
        known: set[bytes] = set()
        hashes = list(unique)
        for start in range(0, len(hashes), 500):  # SQLite's bound parameters: 999 at least
            chunk = hashes[start : start + 500]
            sql = f"SELECT hash FROM lines WHERE hash IN ({', '.join('?' * len(chunk))})"
            known.update(row[0] for row in fetchall(conn, sql, chunk))
        return [(digest, data) for digest, data in unique.items() if digest not in known]

    def _store_lines(
        self, conn: Connection, new: list[tuple[bytes, bytes]], encoded: list[bytes]
    ) -> None:
        """Append the lines (``encoded``: deflated); record where they went."""
        rows = []
        for (digest, data), deflated in zip(new, encoded, strict=True):
            ref = self.line_store.append(data, deflated)
            rows.append((digest, ref.pack, ref.offset, ref.length))
        executemany(conn, _INSERT_LINE, rows)

    def delete_messages(self, conn: Connection, uids: list[int]) -> None:
        if self.segments is not None:  # a bulk load: their segmentation rows would stay
            self.segments.exact = False
        conn.execute(messages.delete().where(messages.c.msg_uid.in_(uids)))

    def message_uids(self, conn: Connection) -> list[int]:
        """Every message id the catalog now has for the chat."""
        query = select(messages.c.msg_uid).where(messages.c.chat_id == self.chat_id)
        return list(conn.execute(query).scalars())

    # -- after: the version and the chat row, committed last ---------------------------------

    def finish(self, conn: Connection, scan: Scan, blocks: list[Block], walk: Walk) -> None:
        previous = self.chat.version if self.chat is not None else 0
        version = previous + 1
        if self.chat is not None and previous and scan.file_hash == self.chat.file_hash:
            # Only after a crash (else the file would be "unchanged"): the content is the last
            # recorded version's, so a clean run would have recorded no new version either.
            version = previous
        else:
            is_full, ops = choose_encoding(version, blocks, scan.hashes)
            conn.execute(versions.insert().values(
                chat_id=self.chat_id, version=version, seen_at=self.now,
                rel_path=self.location.relative_path, size=scan.size,
                message_count=walk.position, file_hash=scan.file_hash, bom=scan.bom,
                trailing_newline=scan.trailing_newline,
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
