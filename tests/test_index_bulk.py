"""A first full index is a bulk load (full-text triggers dropped, indexes rebuilt once at the
end, ``sidecar.indexer.bulk``): it must end exactly where indexing chat by chat with the
triggers ends, stay incremental afterwards, and heal when killed in the middle."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

from sidecar.storage.fts import FTS5_DEFAULT_HASH_BYTES
from sidecar.storage.registry import CATALOG_FILE
from tests.bulk_chats import (
    CHATS,
    chat,
    found,
    index_one_by_one,
    same_state,
    triggers,
    write_root,
)
from tests.index_harness import Harness
from tests.st_files import SOLO, st_save


def test_bulk_full_index_equals_the_per_row_path(tmp_path: Path) -> None:
    write_root(tmp_path / "st")
    bulk = Harness(tmp_path / "st", tmp_path / "bulk")
    summary = bulk.scan()
    assert summary.statuses == {"new": CHATS}
    for db in (CATALOG_FILE, "tracker.db", "notes.db"):  # triggers are back after the load
        assert len(triggers(bulk.db_dir / db)) == 3, db
        # The rebuild gathers more terms per segment; the triggers' small writes get FTS5's own.
        table = "messages_fts" if db == CATALOG_FILE else "data_fts"
        with sqlite3.connect(bulk.db_dir / db) as conn:
            config = dict(conn.execute(f"SELECT k, v FROM {table}_config").fetchall())
        assert config["hashsize"] == FTS5_DEFAULT_HASH_BYTES, db
    rows = index_one_by_one(tmp_path, "rows")
    same_state(bulk, rows)
    hits = found(bulk)
    for query in ("北京", "タワー/tracker", "cafe/notes", "sword/tracker", "sword/notes"):
        assert hits[query], query
    bulk.close()
    rows.close()


def test_incremental_edits_after_a_bulk_index(tmp_path: Path) -> None:
    paths = write_root(tmp_path / "st")
    bulk = Harness(tmp_path / "st", tmp_path / "bulk")
    bulk.scan()
    rows = index_one_by_one(tmp_path, "rows")
    st_save(paths[2], chat(2, edited=True))
    for h in (bulk, rows):
        result = h.index(paths[2])
        assert (result.status, result.edited_messages) == ("updated", 1)
    assert (f"{SOLO}/chat2.jsonl", 0) not in found(bulk)["dragon"]
    assert (f"{SOLO}/chat2.jsonl", 0) in found(bulk)["rain"]
    same_state(bulk, rows)
    # A second full pass over a catalog that has messages is no bulk load: triggers stay.
    assert bulk.scan().statuses == {"unchanged": CHATS}
    assert len(triggers(bulk.db_dir / CATALOG_FILE)) == 3
    bulk.close()
    rows.close()


KILLER = textwrap.dedent("""
    import os, sys
    from pathlib import Path
    from sidecar.indexer import bulk
    from sidecar.indexer.scan import full_scan
    from tests.index_harness import Harness

    h = Harness(Path(sys.argv[1]), Path(sys.argv[2]))
    done = []
    if sys.argv[3] == "rebuild":  # killed while the indexes are rebuilt at the end
        bulk.rebuild = lambda databases, **_: os._exit(9)

    def progress(location, result):
        done.append(location)
        if sys.argv[3] != "rebuild" and len(done) == int(sys.argv[3]):
            os._exit(9)  # killed in the middle of the load: no cleanup runs

    full_scan(h.indexer, progress=progress)
""")


def suspended(db_dir: Path) -> list[str]:
    with sqlite3.connect(db_dir / CATALOG_FILE) as conn:
        rows = conn.execute("SELECT value FROM catalog_meta WHERE name = 'fts_suspended'")
        found = rows.fetchall()
    return sorted(json.loads(found[0][0])) if found else []


def killed_index(tmp_path: Path, db_dir: Path, when: str) -> None:
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)}
    done = subprocess.run(
        [sys.executable, "-c", KILLER, str(tmp_path / "st"), str(db_dir), when],
        env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 9, done.stderr


def test_a_bulk_index_killed_while_rebuilding_heals_databases_the_next_run_never_writes(
    tmp_path: Path,
) -> None:
    """Killed at the very end: every chat is committed, so the next pass has nothing to write in
    the extension databases; it still rebuilds their indexes (listed in the catalog)."""
    write_root(tmp_path / "st")
    db_dir = tmp_path / "killed"
    killed_index(tmp_path, db_dir, "rebuild")
    assert triggers(db_dir / "notes.db") == set()
    assert suspended(db_dir) == ["notes", "tracker"]
    healed = Harness(tmp_path / "st", db_dir)
    assert healed.scan().statuses == {"unchanged": CHATS}
    assert suspended(db_dir) == []
    for db in (CATALOG_FILE, "tracker.db", "notes.db"):
        assert len(triggers(db_dir / db)) == 3, db
    rows = index_one_by_one(tmp_path, "rows")
    same_state(healed, rows)
    healed.close()
    rows.close()


def test_a_bulk_index_killed_midway_heals_on_the_next_run(tmp_path: Path) -> None:
    write_root(tmp_path / "st")
    db_dir = tmp_path / "killed"
    killed_index(tmp_path, db_dir, "3")
    assert triggers(db_dir / CATALOG_FILE) == set()  # the load was cut short without its indexes
    assert triggers(db_dir / "tracker.db") == set()
    assert suspended(db_dir) == ["notes", "tracker"]
    healed = Harness(tmp_path / "st", db_dir)  # opening rebuilds the indexes
    assert len(triggers(db_dir / CATALOG_FILE)) == 3
    indexed = {path for path, _ in found(healed)["dragon"]}
    assert len(indexed) == 3  # the three chats indexed before the kill are searchable
    healed.scan()  # the next pass (no bulk load: the catalog has messages) finishes the rest
    assert suspended(db_dir) == []
    rows = index_one_by_one(tmp_path, "rows")
    same_state(healed, rows)
    healed.close()
    rows.close()
