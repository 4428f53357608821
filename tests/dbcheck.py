"""Consistency checks behind ``tests/dbdump.py``'s ``faults``: SQLite and FTS5 integrity, every
line of the line store against its hash, every chat's lines, every version's delta chain and
rebuilt size and content hash. They only read (FTS5's check runs in a rolled-back transaction).
"""

from __future__ import annotations

import os
import sqlite3
import zlib
from collections.abc import Iterator
from contextlib import closing, contextmanager
from pathlib import Path
from typing import Any

from sidecar.indexer.versions import apply_ops, unpack_hashes
from sidecar.sillytavern.chatfile import BOM, content_hash, line_hash
from sidecar.storage import pack_codec


def _inflate(stored: bytes) -> bytes:
    try:
        return pack_codec.decode(stored)
    except zlib.error:
        return b""  # reported as damaged by the hash check


@contextmanager
def read_only(path: Path) -> Iterator[sqlite3.Connection]:
    """A read-only connection (safe while sidecar runs; it never writes the file)."""
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30)
    conn.execute("PRAGMA query_only=ON")
    with closing(conn):
        yield conn


def integrity(conn: sqlite3.Connection, path: Path, faults: list[str], fts: bool) -> None:
    result = [row[0] for row in conn.execute("PRAGMA integrity_check")]
    if result != ["ok"]:
        faults.append(f"{path.name}: integrity_check: {result[:3]}")
    if not fts:
        return
    # FTS5's integrity-check is a write command: run it on a writable connection, rolled back.
    with closing(sqlite3.connect(path, timeout=30, isolation_level=None)) as rw:
        names = rw.execute(
            "SELECT name FROM sqlite_master WHERE name IN ('messages_fts', 'data_fts')"
        ).fetchall()
        for (table,) in names:
            rw.execute("BEGIN")
            try:
                rw.execute(f"INSERT INTO {table}({table}, rank) VALUES ('integrity-check', 1)")
            except sqlite3.DatabaseError as exc:
                faults.append(f"{path.name}: {table} integrity-check: {exc}")
            finally:
                rw.execute("ROLLBACK")


class StoredLines:
    """The line store as the catalog describes it; verifies each referenced line once."""

    def __init__(self, db_dir: Path, conn: sqlite3.Connection, faults: list[str]) -> None:
        self.faults = faults
        self.refs = {
            row[0]: (row[1], row[2], row[3])
            for row in conn.execute("SELECT hash, pack, offset, length FROM lines")
        }
        self.lengths: dict[bytes, int] = {}
        self._directory = db_dir / "lines"

    def verify_all(self) -> None:
        by_pack: dict[int, list[tuple[int, int, bytes]]] = {}
        for digest, (pack, offset, length) in self.refs.items():
            by_pack.setdefault(pack, []).append((offset, length, digest))
        for pack, refs in sorted(by_pack.items()):
            path = self._directory / f"pack-{pack:06d}.bin"
            try:
                fd = os.open(path, os.O_RDONLY)
            except OSError as exc:
                self.faults.append(f"line store: {path.name}: {exc.strerror}")
                continue
            try:
                compressed = pack_codec.is_compressed(fd)
                for offset, length, digest in sorted(refs):
                    data = os.pread(fd, length, offset)
                    if len(data) == length and compressed:
                        data = _inflate(data)
                    if line_hash(data) != digest:
                        self.faults.append(f"line store: line {digest.hex()} is damaged")
                    else:
                        self.lengths[digest] = len(data)
            finally:
                os.close(fd)

    def size_of(self, hashes: list[bytes], bom: bool, trailing: bool) -> int | None:
        """The byte size of a file made of these verified lines (None if one is unknown)."""
        total = 0
        for digest in hashes:
            length = self.lengths.get(digest)
            if length is None:
                return None
            total += length
        return (len(BOM) if bom else 0) + total + max(len(hashes) - 1, 0) + int(trailing)


def check_chat(
    rel_path: str, chat: dict[str, Any], messages: list[Any], lines: StoredLines, faults: list[str]
) -> None:
    hashes = unpack_hashes(chat["line_hashes"])
    if [m[1] for m in messages] != list(range(len(messages))):
        faults.append(f"chat {rel_path}: positions are not 0..n-1")
    if chat["message_count"] != len(messages):
        faults.append(f"chat {rel_path}: message_count {chat['message_count']} != {len(messages)}")
    for m in messages:
        line_no, digest = m[2], m[3]
        if not 1 <= line_no <= len(hashes) or hashes[line_no - 1] != digest:
            faults.append(f"chat {rel_path}: message {m[1]} does not match line {line_no}")
            break
    if chat["file_hash"] != content_hash(
        hashes, bom=bool(chat["bom"]), trailing_newline=bool(chat["trailing_newline"])
    ):
        faults.append(f"chat {rel_path}: file_hash does not match its lines")
    if lines.size_of(hashes, bool(chat["bom"]), bool(chat["trailing_newline"])) != chat["size"]:
        faults.append(f"chat {rel_path}: its lines are not all stored or its size is wrong")


def checked_versions(
    conn: sqlite3.Connection,
    chat_id: str,
    rel_path: str,
    chat: dict[str, Any],
    lines: StoredLines,
    faults: list[str],
) -> list[list[Any]]:
    """Every version, checked to rebuild from its delta chain to exactly the recorded bytes."""
    rows = conn.execute(
        "SELECT version, base_version, ops, rel_path, size, message_count, file_hash, bom, "
        "trailing_newline FROM versions WHERE chat_id = ? ORDER BY version",
        (chat_id,),
    ).fetchall()
    out: list[list[Any]] = []
    previous: tuple[int, list[bytes]] | None = None
    hashes: list[bytes] = []
    for version, base, ops, path, size, count, file_hash, bom, trailing in rows:
        if base is None:
            hashes = apply_ops([], ops)
        elif previous is not None and previous[0] == base:
            hashes = apply_ops(previous[1], ops)
        else:
            faults.append(f"chat {rel_path}: version {version} has no base {base}")
            hashes = []
        previous = (version, hashes)
        if content_hash(hashes, bom=bool(bom), trailing_newline=bool(trailing)) != file_hash:
            faults.append(f"chat {rel_path}: version {version} does not rebuild to its hash")
        elif lines.size_of(hashes, bool(bom), bool(trailing)) != size:
            faults.append(f"chat {rel_path}: version {version} does not rebuild to its size")
        out.append([version, path, size, count, file_hash.hex(), bool(bom), bool(trailing)])
    if chat["version"] and (not rows or rows[-1][0] != chat["version"]):
        faults.append(f"chat {rel_path}: version {chat['version']} is not stored")
    elif rows and (rows[-1][6] != chat["file_hash"] or hashes != unpack_hashes(
        chat["line_hashes"])):  # fmt: skip
        faults.append(f"chat {rel_path}: the last version is not the chat's current content")
    return out
