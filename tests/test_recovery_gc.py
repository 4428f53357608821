"""``sidecar gc`` retention: keep the newest versions or those seen in the last days, remove the
lines no kept version needs, compact the packs; the default keeps everything. Real indexer."""

from __future__ import annotations

from pathlib import Path

from sidecar.indexer.rebuild import version_hashes
from sidecar.indexer.versions import FULL_EVERY
from tests.gc_chat import Chat, assert_rebuilds, chat_versions, gc_collect, pack_bytes, pack_files
from tests.index_harness import Harness
from tests.st_files import SOLO


def test_keep_count_keeps_the_newest_versions_and_compacts_the_line_store(
    tmp_path: Path,
) -> None:
    root, db_dir = tmp_path / "st", tmp_path / "db"
    h = Harness(root, db_dir)
    chat = Chat(h)
    chat.save()
    chat.save_many(FULL_EVERY + 6)
    chat_id = chat.chat_id
    last = max(chat.saved)
    assert last > FULL_EVERY + 1  # the chain crosses a full list
    kept = list(range(last - 9, last + 1))
    with h.catalog.read() as conn:
        old = {d for v in range(1, last - 9) for d in version_hashes(conn, chat_id, v)}
        new = {d for v in kept for d in version_hashes(conn, chat_id, v)}
        bases: dict[int, int | None] = dict(
            conn.exec_driver_sql(
                "SELECT version, base_version FROM versions WHERE chat_id = ?", (chat_id,)
            ).all()
        )
    only_old = old - new
    assert only_old
    assert any((bases[v] or kept[0]) < kept[0] for v in kept)  # a delta chain is cut
    lines_before = h.catalog_rows("SELECT count(*) FROM lines")[0][0]
    bytes_before = pack_bytes(db_dir)

    report = gc_collect(h, None, 10)

    assert report.versions_removed == last - 10
    assert report.versions_rewritten >= 1
    assert report.lines_removed == len(only_old)
    assert report.store_bytes_before == bytes_before
    assert report.store_bytes_after == pack_bytes(db_dir) < bytes_before
    assert report.bytes_freed > 0
    h = chat.h = Harness(root, db_dir)
    assert chat_versions(h, chat_id) == kept
    assert h.catalog_rows("SELECT count(*) FROM lines")[0][0] == lines_before - len(only_old)
    stored = {row[0] for row in h.catalog_rows("SELECT hash FROM lines")}
    assert not stored & only_old
    assert new <= stored
    assert h.catalog_rows(
        "SELECT count(*) FROM versions WHERE chat_id = ? AND base_version < ?", chat_id, kept[0]
    ) == [(0,)]
    assert_rebuilds(h, chat, kept)

    # Indexing goes on after gc: new versions, new lines appended to the compacted store.
    chat.save_many(5)
    assert chat_versions(h, chat_id) == [*kept, *range(last + 1, last + 6)]
    assert_rebuilds(h, chat, chat_versions(h, chat_id))

    # A second gc with the same retention removes the versions that fell out since.
    report = gc_collect(h, None, 10)
    assert report.versions_removed == 5
    h = Harness(root, db_dir)
    assert chat_versions(h, chat_id) == list(range(last - 4, last + 6))
    assert_rebuilds(h, chat, chat_versions(h, chat_id))
    h.close()


def test_keep_days_by_seen_at_and_either_limit_keeps(tmp_path: Path) -> None:
    root, db_dir = tmp_path / "st", tmp_path / "db"
    h = Harness(root, db_dir)
    chat = Chat(h)
    chat.save()
    chat.save_many(7)
    other = Chat(h, f"{SOLO}/other.jsonl", seed=3)
    other.save()
    other.save_many(2)
    chat_id, other_id = chat.chat_id, other.chat_id
    h.close()
    h2 = Harness(root, db_dir)
    with h2.catalog.write() as conn:
        conn.exec_driver_sql(
            "UPDATE versions SET seen_at = '2020-01-01T00:00:00.000Z' "
            "WHERE (chat_id = ? AND version <= 5) OR chat_id = ?",
            (chat_id, other_id),
        )
    report = gc_collect(h2, 3, None)
    assert report.versions_removed == 5 + 2
    h = Harness(root, db_dir)
    assert chat_versions(h, chat_id) == [6, 7, 8]
    assert chat_versions(h, other_id) == [3]  # all old, but the current version stays
    assert_rebuilds(h, chat, [6, 7, 8])
    assert_rebuilds(h, other, [3])
    h.close()

    # keep_days and keep_count together: a version inside either limit is kept.
    h = chat.h = Harness(root, db_dir)
    chat.save_many(2)  # versions 9, 10 (seen now)
    with h.catalog.write() as conn:
        conn.exec_driver_sql(
            "UPDATE versions SET seen_at = '2020-01-01T00:00:00.000Z' "
            "WHERE chat_id = ? AND version <= 7",
            (chat_id,),
        )
    report = gc_collect(h, 3, 4)
    h = Harness(root, db_dir)
    assert chat_versions(h, chat_id) == [7, 8, 9, 10]
    assert_rebuilds(h, chat, [7, 8, 9, 10])
    h.close()


def test_default_retention_removes_nothing(tmp_path: Path) -> None:
    root, db_dir = tmp_path / "st", tmp_path / "db"
    h = Harness(root, db_dir)
    chat = Chat(h)
    chat.save()
    chat.save_many(12)
    versions_before = chat_versions(h, chat.chat_id)
    lines_before = h.catalog_rows("SELECT hash, pack, offset, length FROM lines ORDER BY 1")
    packs_before = pack_files(db_dir)
    report = gc_collect(h, None, None)
    assert (report.versions_removed, report.lines_removed, report.bytes_freed) == (0, 0, 0)
    h = Harness(root, db_dir)
    assert chat_versions(h, chat.chat_id) == versions_before
    assert h.catalog_rows("SELECT hash, pack, offset, length FROM lines ORDER BY 1") == (
        lines_before
    )
    assert pack_files(db_dir) == packs_before
    assert_rebuilds(h, chat, versions_before)
    h.close()
