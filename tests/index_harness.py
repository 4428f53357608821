"""A real indexer on a temp data root with real SQLite files, and a canonical dump of its state."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

from sidecar.config import Settings
from sidecar.daemon.wiring import create_indexer, create_registry, open_catalog, open_line_store
from sidecar.indexer.indexer import ChatIndexer
from sidecar.indexer.scan import ScanSummary, full_scan
from sidecar.indexer.update_state import IndexResult
from sidecar.sillytavern.discovery import locate_chat
from sidecar.storage.extension_db import Database
from sidecar.storage.linestore import LineStore
from sidecar.storage.registry import CATALOG_FILE, ExtensionRegistry
from tests import handsoff


class Harness:
    def __init__(self, root: Path, db_dir: Path, **index: Any) -> None:
        self.root = root
        self.db_dir = db_dir
        root.mkdir(parents=True, exist_ok=True)
        handsoff.using_root(root)
        self.settings = Settings.model_validate(
            {
                "storage": {"database_dir": str(db_dir)},
                "sillytavern": {"data_root": str(root)},
                "index": index,
            }
        )
        self.registry: ExtensionRegistry = create_registry(self.settings)
        self.registry.open()
        self.catalog: Database = open_catalog(self.settings)
        self.line_store: LineStore = open_line_store(self.settings)
        self.indexer: ChatIndexer = create_indexer(
            self.settings, self.registry, self.catalog, self.line_store, root
        )

    def index(self, path: Path) -> IndexResult:
        location = locate_chat(self.root, path)
        assert location is not None, path
        return self.indexer.index_location(location)

    def scan(self) -> ScanSummary:
        return full_scan(self.indexer)

    def close(self) -> None:
        self.line_store.close()
        self.catalog.close()
        self.registry.close()

    # -- inspection ----------------------------------------------------------------------------

    def query(self, db: str, sql: str, *args: Any) -> list[tuple[Any, ...]]:
        with sqlite3.connect(self.db_dir / db) as conn:
            return conn.execute(sql, args).fetchall()

    def catalog_rows(self, sql: str, *args: Any) -> list[tuple[Any, ...]]:
        return self.query(CATALOG_FILE, sql, *args)

    def chat_id(self, rel_path: str) -> str:
        rows = self.catalog_rows("SELECT chat_id FROM chats WHERE rel_path = ?", rel_path)
        assert rows, rel_path
        return str(rows[0][0])

    def positions(self, chat_id: str) -> dict[int, int]:
        """msg_uid -> position."""
        rows = self.catalog_rows(
            "SELECT msg_uid, position FROM messages WHERE chat_id = ?", chat_id
        )
        return dict(rows)

    def data(self, ext: str, chat_id: str) -> list[tuple[Any, ...]]:
        """(position, swipe, namespace, key, value, selected) rows of one chat, sorted."""
        if not (self.db_dir / f"{ext}.db").exists():
            return []
        where = self.positions(chat_id)
        rows = self.query(
            f"{ext}.db",
            "SELECT msg_uid, swipe, namespace, key, value, selected FROM message_data "
            "WHERE chat_id = ?",
            chat_id,
        )
        return sorted((where[uid], *rest) for uid, *rest in rows)

    def history(self, ext: str, chat_id: str) -> list[tuple[Any, ...]]:
        """(position, swipe, namespace, key, value, reason) history rows, sorted."""
        rows = self.query(
            f"{ext}.db",
            "SELECT position, swipe, namespace, key, value, reason FROM data_history "
            "WHERE chat_id = ?",
            chat_id,
        )
        return sorted(rows, key=repr)

    def snapshot(self, chat_id: str, extensions: list[str]) -> dict[str, Any]:
        """Everything indexed for a chat that a clean index must reproduce: no ids, no times, and
        no ``state`` (``shrunk`` records history a clean index cannot know)."""
        messages = self.catalog_rows(
            "SELECT position, line_no, name, is_user, is_system, send_date_raw, send_date, text, "
            "swipe_id, swipe_count, builtin_extra, namespaces, problems, hex(line_hash) "
            "FROM messages WHERE chat_id = ? ORDER BY position",
            chat_id,
        )
        chat = self.catalog_rows(
            "SELECT message_count, header_line, user_name, character_name, integrity, "
            "metadata_json, bom, trailing_newline, hex(file_hash), hex(line_hashes), sync "
            "FROM chats WHERE chat_id = ?",
            chat_id,
        )
        problems = self.catalog_rows(
            "SELECT line_no, reason FROM problems WHERE chat_id = ? ORDER BY line_no, reason",
            chat_id,
        )
        chat_data = {
            ext: self.query(
                f"{ext}.db",
                "SELECT namespace, key, value FROM chat_data WHERE chat_id = ? ORDER BY 1, 2",
                chat_id,
            )
            for ext in extensions
            if (self.db_dir / f"{ext}.db").exists()
        }
        chat_data = {ext: rows for ext, rows in chat_data.items() if rows}
        return {
            "chat": chat,
            "messages": messages,
            "problems": problems,
            "data": {ext: self.data(ext, chat_id) for ext in extensions},
            "chat_data": chat_data,
        }
