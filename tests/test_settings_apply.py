"""Settings that shape indexed data apply to what is already indexed: a change re-derives every
chat at the next pass (with a log line saying which setting changed), and chatIds, message ids,
versions and value history survive. Real files, real SQLite databases, the real indexer."""

from __future__ import annotations

import logging
import sqlite3
from pathlib import Path

import pytest
from litestar.testing import TestClient

from sidecar.api.app import create_app
from sidecar.config import Settings
from sidecar.indexer.rederive import check_settings
from tests.conftest import PREFIX
from tests.dbdump import differences, dump_folder
from tests.index_harness import Harness
from tests.settings_apply_chats import REL, facts, first_run, indexed, namespaces_of, write
from tests.test_index_crash import Killed, crash_on_catalog_commit


@pytest.fixture
def dirs(tmp_path: Path) -> tuple[Path, Path]:
    return tmp_path / "st", tmp_path / "db"


def test_excluding_a_namespace(dirs: tuple[Path, Path], caplog: pytest.LogCaptureFixture) -> None:
    before = first_run(dirs)
    h = indexed(dirs, exclude_namespaces=["secret"])
    try:
        assert namespaces_of(h, REL) == ["ext", "secret", "tracker", "variables"]
        with caplog.at_level(logging.INFO, logger="sidecar.indexer"):
            summary = h.scan()
        assert summary.rederived == 2
        assert 'index.exclude_namespaces changed ([] -> ["secret"])' in caplog.text
        assert "re-deriving 2 chats from their files" in caplog.text
        assert summary.statuses == {"updated": 2}  # one chat-level event each
        assert facts(h) == before  # ids, versions, other values (seen_at too), their history
        assert namespaces_of(h, REL) == ["ext", "tracker", "variables"]
        # Its values are kept as history, with the position each message had.
        assert h.query("secret.db", "SELECT count(*) FROM message_data") == [(0,)]
        assert h.query("secret.db", "SELECT count(*) FROM chat_data") == [(0,)]
        retired = h.query(
            "secret.db",
            "SELECT position, swipe, key, value, reason FROM data_history WHERE reason = ?",
            "unindexed",
        )
        assert sorted(retired, key=repr) == sorted(
            [(0, 0, "s", "1", "unindexed"), (1, 1, "s", "2", "unindexed"),
             (None, None, "plan", '"hide"', "unindexed")], key=repr,
        )  # fmt: skip
        assert h.scan().statuses == {"unchanged": 2}  # applied once
    finally:
        h.close()
    h = indexed(dirs)  # indexed again: its values come back from the files
    try:
        summary = h.scan()
        assert summary.rederive_reason == 'index.exclude_namespaces changed (["secret"] -> [])'
        assert h.query("secret.db", "SELECT count(*) FROM message_data") == [(2,)]
        assert h.query("secret.db", "SELECT key, value FROM chat_data") == [("plan", '"hide"')]
        assert facts(h) == before
    finally:
        h.close()


def test_top_level_fields(dirs: tuple[Path, Path], caplog: pytest.LogCaptureFixture) -> None:
    before = first_run(dirs, top_level_fields=["tracker"])
    h = indexed(dirs)
    try:
        assert namespaces_of(h, REL) == ["ext", "secret", "tracker"]
        with caplog.at_level(logging.INFO, logger="sidecar.indexer"):
            h.scan()
        assert (
            'index.top_level_fields changed (["tracker"] -> every field that is not '
            "SillyTavern's own)" in caplog.text
        )
        assert namespaces_of(h, REL) == ["ext", "secret", "tracker", "variables"]
        assert h.query("variables.db", "SELECT key, value FROM message_data") == [
            ("$value", '[{"x":1}]')
        ]
        assert facts(h) == before
    finally:
        h.close()


def test_namespace_map_takes_values_and_history_along(dirs: tuple[Path, Path]) -> None:
    before = first_run(dirs)
    chat_id = before["chats"][1][0]  # REL sorts after OTHER
    h = indexed(dirs, namespace_map={"ext": "story-tools"})
    try:
        summary = h.scan()
        assert summary.rederive_reason == (
            'index.namespace_map changed ({} -> {"ext":"story-tools"})'
        )
        assert h.query("ext.db", "SELECT count(*) FROM message_data") == [(0,)]
        assert h.query("ext.db", "SELECT count(*) FROM data_history") == [(0,)]
        moved = h.query("story-tools.db", "SELECT chat_id, msg_uid, swipe, key, value, seen_at "
                        "FROM message_data ORDER BY 1, 2, 3, 4")  # fmt: skip
        assert moved == before["ext"]  # the same rows, seen_at kept
        settings = Settings.model_validate({
            "storage": {"database_dir": str(dirs[1])},
            "index": {"namespace_map": {"ext": "story-tools"}},
        })  # fmt: skip
    finally:
        h.close()
    with TestClient(create_app(settings)) as client:
        response = client.get(f"{PREFIX}/chats/{chat_id}/messages/0/history/ext/n")
        assert response.status_code == 200, response.text
        assert [v["value"] for v in response.json()["items"]] == [1, 2]  # history came along


def test_skip_rules_apply_without_rederiving(
    dirs: tuple[Path, Path], caplog: pytest.LogCaptureFixture
) -> None:
    before = first_run(dirs)
    h = indexed(dirs, skip_prefixes=["_", ".", "Nova"])  # the folder of OTHER
    try:
        with caplog.at_level(logging.INFO, logger="sidecar.indexer"):
            summary = h.scan()
        assert 'index.skip_prefixes changed ([".","_"] -> [".","Nova","_"])' in caplog.text
        assert (summary.rederive_reason, summary.rederived) == (None, 0)
        assert summary.statuses == {"missing": 1, "unchanged": 1}
        assert facts(h)["chats"] == before["chats"]
    finally:
        h.close()


def test_a_catalog_from_an_earlier_sidecar_is_rederived_once(dirs: tuple[Path, Path]) -> None:
    """Catalogs written before the fingerprint existed were derived by other rules (then,
    top-level fields other than ``tracker`` were not indexed): the first pass re-derives them."""
    before = first_run(dirs, top_level_fields=["tracker"])
    with sqlite3.connect(dirs[1] / "sidecar.index.db") as conn:
        conn.execute("DELETE FROM catalog_meta")
    conn.close()
    h = indexed(dirs)
    try:
        summary = h.scan()
        assert summary.rederive_reason is not None
        assert "earlier sidecar" in summary.rederive_reason
        assert summary.rederived == 2
        assert namespaces_of(h, REL) == ["ext", "secret", "tracker", "variables"]
        assert facts(h) == before
        assert h.scan().rederive_reason is None
    finally:
        h.close()


def test_a_missing_chat_is_rederived_from_its_last_version(dirs: tuple[Path, Path]) -> None:
    first_run(dirs, top_level_fields=[])
    (dirs[0] / REL).unlink()
    h = indexed(dirs, top_level_fields=[])
    try:
        h.scan()
        [(missing_since,)] = h.catalog_rows(
            "SELECT missing_since FROM chats WHERE state = 'missing'"
        )
    finally:
        h.close()
    h = indexed(dirs, top_level_fields=["tracker"])
    try:
        assert h.scan().rederived == 2
        assert h.catalog_rows("SELECT state, missing_since, version FROM chats WHERE rel_path = ?",
                              REL) == [("missing", missing_since, 2)]  # fmt: skip
        assert h.query("tracker.db", "SELECT key, value FROM message_data") == [("hp", "10")]
        assert h.catalog_rows("SELECT count(*) FROM rederive") == [(0,)]
        assert h.catalog_rows("SELECT count(*) FROM chats WHERE sync != 'ok'") == [(0,)]
    finally:
        h.close()


@pytest.mark.parametrize("call", [2, 3])
def test_an_interrupted_rederivation_is_finished_by_the_next_pass(
    dirs: tuple[Path, Path], tmp_path: Path, call: int
) -> None:
    """Killed in the middle of re-deriving a chat: at its update's commit (2; 1 is its pending
    mark), or just after it, before its request is forgotten (3)."""
    first_run(dirs)
    h = indexed(dirs, exclude_namespaces=["secret"], top_level_fields=["tracker"])
    try:
        assert check_settings(h.indexer).chats == 2
        crash_on_catalog_commit(h, call=call)
        with pytest.raises(Killed):
            h.index(h.root / REL)
        del h.catalog.write  # the next run
        assert h.catalog_rows("SELECT count(*) FROM rederive") == [(2,)]
        h.scan()
        assert h.catalog_rows("SELECT count(*) FROM rederive") == [(0,)]
    finally:
        h.close()
    got = dump_folder(dirs[1])
    assert got["faults"] == []
    clean = Harness(tmp_path / "clean-st", tmp_path / "clean-db",
                    exclude_namespaces=["secret"], top_level_fields=["tracker"])  # fmt: skip
    try:
        write(clean.root)
        clean.scan()
    finally:
        clean.close()
    want = dump_folder(tmp_path / "clean-db")
    assert differences(got["current"], want["current"]) == []
