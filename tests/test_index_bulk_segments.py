"""A bulk load fills the catalog's CJK segmentation table as it writes (``SegmentFill``), so the
rebuild at the end only puts the triggers back and builds the index: the table must be exactly
what SQL's own fill makes, and anything less certain falls back to that fill."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest

from sidecar.indexer import bulk, update
from sidecar.storage import fts
from sidecar.storage.fts_bulk import restore_fts, suspend_fts
from tests.bulk_chats import CHATS, index_one_by_one, same_state, write_root
from tests.index_harness import Harness


def segments(h: Harness) -> list[tuple[Any, ...]]:
    """The segmentation table, by where each message is (ids differ between two indexes)."""
    return sorted(h.catalog_rows(
        "SELECT rel_path, position, s.text FROM messages_fts_seg s "
        "JOIN messages USING (msg_uid) JOIN chats USING (chat_id)"))  # fmt: skip


def test_the_walk_fills_the_table_as_the_triggers_do(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_root(tmp_path / "st")
    seen = record_rebuilds(monkeypatch)
    h = Harness(tmp_path / "st", tmp_path / "bulk")
    h.scan()
    assert seen == [h.indexer.catalog]  # the walk's fill was used, not SQL's
    rows = index_one_by_one(tmp_path, "rows")
    assert segments(h)  # the chats have CJK text
    assert segments(h) == segments(rows)
    same_state(h, rows)
    h.close()
    rows.close()


def record_rebuilds(monkeypatch: pytest.MonkeyPatch) -> list[object]:
    """What each bulk rebuild was told was filled by the walk."""
    seen: list[object] = []
    rebuild = bulk.rebuild

    def recorded(databases: Any, filled: Any = None) -> None:
        seen.append(filled)
        rebuild(databases, filled=filled)

    monkeypatch.setattr(bulk, "rebuild", recorded)
    return seen


def test_a_message_rewritten_during_the_load_makes_sql_fill_the_table(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A message id used again (here: forced) leaves the walk's fill uncertain: the rebuild
    fills the table itself, and the result is still the per-row one."""
    write_root(tmp_path / "st")
    segment_message = update.ChatUpdate._segment

    def reused_once(
        self: update.ChatUpdate, walk: Any, uid: int, text: object, *, reused: bool
    ) -> None:
        segment_message(self, walk, uid, text, reused=reused or uid % 7 == 0)

    monkeypatch.setattr(update.ChatUpdate, "_segment", reused_once)
    seen = record_rebuilds(monkeypatch)
    h = Harness(tmp_path / "st", tmp_path / "bulk")
    h.scan()
    assert seen == [None]
    rows = index_one_by_one(tmp_path, "rows")
    assert segments(h) == segments(rows)
    same_state(h, rows)
    h.close()
    rows.close()


def test_restore_trusts_the_table_only_when_nothing_but_triggers_is_missing(
    tmp_path: Path,
) -> None:
    write_root(tmp_path / "st")
    h = Harness(tmp_path / "st", tmp_path / "db")
    h.scan()
    catalog = h.indexer.catalog
    good = segments(h)
    uid = h.catalog_rows("SELECT msg_uid FROM messages WHERE text NOT GLOB '*[北京]*'")[0][0]
    bogus = "INSERT OR REPLACE INTO messages_fts_seg (msg_uid, text) VALUES (?, 'bogus')"

    def plant() -> None:
        with sqlite3.connect(h.db_dir / "sidecar.index.db") as conn:
            conn.execute(bogus, (uid,))

    suspend_fts(catalog)
    plant()
    restore_fts(catalog, segments_filled=True)  # the writer's table is taken as it is
    assert len(segments(h)) == len(good) + 1
    suspend_fts(catalog)
    restore_fts(catalog)  # not filled by a writer: SQL fills it again
    assert segments(h) == good
    plant()
    with sqlite3.connect(h.db_dir / "sidecar.index.db") as conn:  # an older view definition
        conn.execute("DROP VIEW messages_fts_source")
        conn.execute("CREATE VIEW messages_fts_source AS SELECT msg_uid AS rid, text, "
                     "hex(chat_id) AS chat FROM messages")  # fmt: skip
    restore_fts(catalog, segments_filled=True)  # more than triggers differ: everything rebuilt
    assert segments(h) == good
    h.close()


def test_an_index_without_segmentation_bulk_loads_without_the_table(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``benchmarks/query.py`` measures the index as it was before CJK segmentation: there is no
    segmentation table then, and the walk fills none."""
    monkeypatch.setattr(fts, "SEGMENT_CJK", False)
    write_root(tmp_path / "st")
    seen = record_rebuilds(monkeypatch)
    h = Harness(tmp_path / "st", tmp_path / "plain")
    assert h.scan().statuses == {"new": CHATS}
    assert seen == [None]
    assert not h.catalog_rows("SELECT name FROM sqlite_master WHERE name = 'messages_fts_seg'")
    assert (
        h.catalog_rows("SELECT count(*) FROM messages_fts WHERE messages_fts MATCH 'dragon'")[0][0]
        == CHATS
    )
    h.close()
