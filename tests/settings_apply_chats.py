"""Chats and a first indexing run for the settings-apply tests, and the facts a re-derivation
must keep (chatIds, message ids, versions, value history)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.index_harness import Harness
from tests.st_files import SOLO, header, message, st_save, swiped

REL = f"{SOLO}/story.jsonl"
OTHER = "default-user/chats/Nova/other.jsonl"


def story(n: int = 1) -> list[Any]:
    return [
        header(integrity="i-1", arc={"chapter": n}, secret={"plan": "hide"}),
        message("hello", extra={"ext": {"n": n}, "secret": {"s": 1}}, tracker={"hp": 10}),
        swiped(["a", "b"], 1, [{"ext": {"n": 10}}, {"ext": {"n": 11}, "secret": {"s": 2}}]),
        message("bye", is_user=True, variables=[{"x": 1}]),
    ]


def write(root: Path) -> None:
    st_save(root / REL, story(1))
    st_save(root / REL, story(2))  # indexed twice below: history exists before any change
    st_save(root / OTHER, [header(), message("other", extra={"ext": {"n": 7}})])


def indexed(dirs: tuple[Path, Path], **index: Any) -> Harness:
    """A harness over ``dirs`` with these index settings (a new process, as after a restart)."""
    return Harness(dirs[0], dirs[1], **index)


def first_run(dirs: tuple[Path, Path], **index: Any) -> dict[str, Any]:
    root = dirs[0]
    st_save(root / REL, story(1))
    st_save(root / OTHER, [header(), message("other", extra={"ext": {"n": 7}})])
    h = indexed(dirs, **index)
    try:
        h.scan()
        st_save(root / REL, story(2))
        h.scan()
        return facts(h)
    finally:
        h.close()


def facts(h: Harness) -> dict[str, Any]:
    """What must survive a re-derivation."""
    return {
        "chats": h.catalog_rows("SELECT chat_id, rel_path, version FROM chats ORDER BY rel_path"),
        "versions": h.catalog_rows("SELECT chat_id, version, hex(file_hash) FROM versions"),
        "uids": h.catalog_rows("SELECT chat_id, position, msg_uid FROM messages ORDER BY 1, 2"),
        "ext": h.query("ext.db", "SELECT chat_id, msg_uid, swipe, key, value, seen_at "
                       "FROM message_data ORDER BY 1, 2, 3, 4"),
        "ext_history": h.query("ext.db", "SELECT chat_id, msg_uid, key, value, reason "
                               "FROM data_history ORDER BY id"),
    }  # fmt: skip


def namespaces_of(h: Harness, rel: str) -> list[str]:
    rows = h.catalog_rows(
        "SELECT namespaces FROM messages WHERE chat_id = ? ORDER BY position", h.chat_id(rel)
    )
    return sorted({ns for (names,) in rows for ns in json.loads(names)})
