"""A chat saved again and again (edits, inserts, deletes) with every version remembered, and the
checks and the gc run the ``sidecar gc`` tests share."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

from sidecar.daemon.wiring import open_catalog
from sidecar.indexer.rebuild import rebuild_version
from sidecar.recovery.gc import GcReport, collect
from tests.index_harness import Harness
from tests.st_files import SOLO, encode, header, message, st_save

CHAT = f"{SOLO}/long.jsonl"


def pack_bytes(db_dir: Path) -> int:
    return sum(p.stat().st_size for p in (db_dir / "lines").glob("pack-*.bin"))


def pack_files(db_dir: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted((db_dir / "lines").glob("pack-*.bin"))}


class Chat:
    """A chat saved again and again with edits, inserts and deletes; remembers every version."""

    def __init__(self, h: Harness, rel: str = CHAT, seed: int = 7) -> None:
        self.h = h
        self.path = h.root / rel
        self.rel = rel
        self.rng = random.Random(seed)
        self.counter = 0
        self.messages: list[dict[str, Any]] = [message(self._text()) for _ in range(5)]
        self.saved: dict[int, bytes] = {}

    def _text(self) -> str:
        self.counter += 1
        return f"message {self.counter} " + "lorem ipsum " * self.rng.randint(1, 20)

    def mutate(self) -> None:
        kind = self.rng.choice(["edit", "edit", "insert", "append", "delete"])
        if kind == "delete" and len(self.messages) > 3:
            del self.messages[self.rng.randrange(len(self.messages))]
        elif kind == "insert":
            self.messages.insert(self.rng.randrange(len(self.messages)), message(self._text()))
        elif kind == "append":
            self.messages.append(message(self._text(), is_user=True, name="User"))
        else:
            self.messages[self.rng.randrange(len(self.messages))] = message(self._text())

    def save(self) -> int:
        data = encode([header(note=f"save {self.counter}"), *self.messages])
        st_save(self.path, data)
        self.h.index(self.path)
        version = int(self.h.catalog_rows("SELECT version FROM chats WHERE rel_path = ?",
                                          self.rel)[0][0])  # fmt: skip
        self.saved[version] = data
        return version

    def save_many(self, count: int) -> None:
        for _ in range(count):
            self.mutate()
            self.save()

    @property
    def chat_id(self) -> str:
        return self.h.chat_id(self.rel)


def chat_versions(h: Harness, chat_id: str) -> list[int]:
    rows = h.catalog_rows("SELECT version FROM versions WHERE chat_id = ? ORDER BY 1", chat_id)
    return [row[0] for row in rows]


def assert_rebuilds(h: Harness, chat: Chat, versions: list[int]) -> None:
    with h.catalog.read() as conn:
        for version in versions:
            assert (
                rebuild_version(conn, h.line_store, chat.chat_id, version) == chat.saved[version]
            ), version


def gc_collect(h: Harness, keep_days: float | None, keep_count: int | None) -> GcReport:
    """Close the harness, gc with a freshly opened catalog, like ``sidecar gc`` would."""
    h.close()
    catalog = open_catalog(h.settings)
    try:
        return collect(catalog, h.db_dir / "lines", keep_days, keep_count)
    finally:
        catalog.close()
