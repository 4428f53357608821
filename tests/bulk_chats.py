"""Chats for the bulk-load tests, and how two indexes of them are compared (rows, full-text
integrity, search hits in every script)."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

from sidecar.storage.fts_bulk import TRIGGERS
from sidecar.storage.segment import segment
from tests.dbdump import differences, dump_folder
from tests.index_harness import Harness
from tests.st_files import SOLO, header, message, st_save, swiped

QUERIES = ("dragon", "北京", "長城", "タワー", "학교", "cafe", "2025", "sword", "castle", "rain")
CHATS = 5


def chat(k: int, *, edited: bool = False) -> list[Any]:
    first = "the dragon sleeps by the castle" if not edited else "the rain falls on the castle"
    return [
        header(tracker={"scene": f"北京 scene {k}"}),
        message(f"{first} {k}", name="User", is_user=True),
        message(f"我们明天去北京看長城吧 {k}", extra={"tracker": {"place": "東京タワー", "hp": k}}),
        swiped(["학교에서 sword", "Café 2025"], 1,
               [{"notes": {"mood": "calm sword"}}, {"notes": {"mood": "café rain"}}]),
        message(f"plain message {k}", extra={"tracker": {"hp": k + 1, "item": "sword"}}),
    ]  # fmt: skip


def write_root(root: Path, count: int = CHATS) -> list[Path]:
    paths = [root / SOLO / f"chat{k}.jsonl" for k in range(count)]
    for k, path in enumerate(paths):
        st_save(path, chat(k))
    return paths


def triggers(db: Path) -> set[str]:
    with sqlite3.connect(db) as conn:
        rows = conn.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'").fetchall()
    return {name for (name,) in rows} & set(TRIGGERS)


def found(h: Harness) -> dict[str, Any]:
    """What each query finds: messages as (path, position), values as (path, position, key)."""
    where = {uid: (path, pos) for uid, path, pos in h.catalog_rows(
        "SELECT msg_uid, rel_path, position FROM messages JOIN chats USING (chat_id)")}  # fmt: skip
    out: dict[str, Any] = {}
    for q in QUERIES:
        phrase = '"' + (segment(q) or q) + '"'
        rows = h.catalog_rows(
            "SELECT rowid FROM messages_fts WHERE messages_fts MATCH ?", f"text : {phrase}"
        )
        out[q] = sorted(where[uid] for (uid,) in rows)
        for ext in ("tracker", "notes"):
            if not (h.db_dir / f"{ext}.db").exists():
                continue
            hits = h.query(
                f"{ext}.db",
                "SELECT msg_uid, key FROM message_data WHERE rowid IN "
                "(SELECT rowid FROM data_fts WHERE data_fts MATCH ?)",
                phrase,
            )
            out[f"{q}/{ext}"] = sorted((*where[uid], key) for uid, key in hits)
    return out


def index_one_by_one(tmp_path: Path, name: str) -> Harness:
    """The per-row path: every chat indexed alone, full-text triggers in place."""
    h = Harness(tmp_path / "st", tmp_path / name)
    for path in sorted((tmp_path / "st" / SOLO).glob("*.jsonl")):
        h.index(path)
    return h


def same_state(a: Harness, b: Harness) -> None:
    dump_a, dump_b = dump_folder(a.db_dir), dump_folder(b.db_dir)
    assert dump_a["faults"] == []
    assert dump_b["faults"] == []
    assert differences(dump_a["current"], dump_b["current"]) == []
    assert found(a) == found(b)
