"""Settings that shape indexed data apply to what is already indexed: a change re-derives every
chat at the next pass (with a log line saying which setting changed), ``sidecar index --reindex``
forces it, and chatIds, message ids, versions and value history survive. Real files, real SQLite
databases, the real ``sidecar index`` and the real indexing service."""

from __future__ import annotations

import json
import logging
import os
import signal
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from litestar.testing import TestClient

from sidecar.api.app import create_app
from sidecar.config import Settings
from sidecar.daemon.notify import Notifier
from sidecar.daemon.service import IndexService
from sidecar.daemon.wiring import create_registry
from sidecar.indexer.rederive import check_settings
from tests.conftest import PREFIX
from tests.dbdump import differences, dump_folder
from tests.event_log_helpers import all_events, daemon_hub
from tests.index_harness import Harness
from tests.live_server import free_port, wait_until
from tests.st_files import SOLO, header, message, st_save, swiped
from tests.test_index_crash import Killed, crash_on_catalog_commit

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


@pytest.fixture
def dirs(tmp_path: Path) -> tuple[Path, Path]:
    return tmp_path / "st", tmp_path / "db"


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


# -- as users meet it ---------------------------------------------------------------------------


def run_index(dirs: tuple[Path, Path], *flags: str) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [sys.executable, "-m", "sidecar", "index", "--data-root", str(dirs[0]),
         "--db-dir", str(dirs[1]), *flags],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return done


def contents(db_dir: Path) -> dict[str, list[str]]:
    """Every database's content, as SQL (a WAL checkpoint can rewrite a file without changing
    what it holds)."""
    found = {}
    for path in sorted(db_dir.glob("*.db")):
        with sqlite3.connect(path) as conn:
            found[path.name] = list(conn.iterdump())
        conn.close()
    return found


def test_sidecar_index_reindex(dirs: tuple[Path, Path]) -> None:
    before = first_run(dirs)
    done = run_index(dirs, "--reindex")
    assert "re-derived: 2 chats (sidecar index --reindex)" in done.stdout
    assert "re-deriving 2 chats from their files: sidecar index --reindex" in done.stderr
    h = indexed(dirs)
    try:
        assert facts(h) == before
    finally:
        h.close()
    held = contents(dirs[1])
    again = run_index(dirs)
    assert "re-derived" not in again.stdout
    assert contents(dirs[1]) == held  # nothing to do, nothing changed


def test_sidecar_index_after_a_config_change(dirs: tuple[Path, Path], tmp_path: Path) -> None:
    first_run(dirs)
    config = tmp_path / "config.yaml"
    config.write_text("index:\n  exclude_namespaces: [tracker]\n", encoding="utf-8")
    done = run_index(dirs, "--config", str(config))
    assert 'index.exclude_namespaces changed ([] -> ["tracker"])' in done.stderr
    assert 're-derived: 2 chats (index.exclude_namespaces changed ([] -> ["tracker"]))' in (
        done.stdout
    )
    assert "namespaces: arc, ext, secret, variables" in done.stdout


@pytest.fixture
def restarted(dirs: tuple[Path, Path]) -> Iterator[tuple[IndexService, dict[str, Any]]]:
    """sidecar's indexing service, run once with the defaults, then restarted with a namespace
    excluded and the top-level fields narrowed."""
    before = first_run(dirs)
    settings = Settings.model_validate({
        "storage": {"database_dir": str(dirs[1])},
        "sillytavern": {"data_root": str(dirs[0])},
        "index": {"exclude_namespaces": ["secret"], "top_level_fields": ["tracker"]},
        "watch": {"quiet_period_ms": 50},
    })  # fmt: skip
    registry = create_registry(settings)
    registry.open()
    h = indexed(dirs)
    last = all_events(h.catalog)[-1][0]  # what the first run announced
    h.close()
    service = IndexService(settings, registry, daemon_hub(dirs[1]), Notifier({}))
    service.start()
    try:
        wait_until(lambda: not service.status()["reconciling"], timeout=20)
        yield service, {**before, "last_event": last}
    finally:
        service.stop()
        registry.close()


def test_a_restart_with_other_settings(
    restarted: tuple[IndexService, dict[str, Any]], dirs: tuple[Path, Path]
) -> None:
    service, before = restarted
    status = service.status()
    assert status["messageNamespaces"] == ["ext", "tracker"]
    assert status["chatNamespaces"] == ["arc"]
    # One chat-level event per chat, never key by key.
    after = [
        (e.kind, e.chat_id) for i, e in all_events(service.catalog) if i > before["last_event"]
    ]
    assert sorted(after) == sorted(("updated", chat_id) for chat_id, _path, _v in before["chats"])
    h = indexed(dirs, exclude_namespaces=["secret"], top_level_fields=["tracker"])
    try:
        assert facts(h) == {k: v for k, v in before.items() if k != "last_event"}
        assert h.scan().rederive_reason is None
    finally:
        h.close()


def test_sidecar_run_restarted_with_another_config(dirs: tuple[Path, Path], tmp_path: Path) -> None:
    """The daemon as users run it: a config change, then a restart."""
    before = first_run(dirs)
    chat_id = before["chats"][1][0]
    config = tmp_path / "config.yaml"
    config.write_text("index:\n  exclude_namespaces: [secret]\n", encoding="utf-8")
    port = free_port()
    base = f"http://127.0.0.1:{port}{PREFIX}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("SIDECAR_")}
    process = subprocess.Popen(
        [sys.executable, "-m", "sidecar", "run", "--config", str(config), "--port", str(port),
         "--db-dir", str(dirs[1]), "--data-root", str(dirs[0])],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip

    def reconciled() -> bool:
        try:
            status = httpx.get(base + "/status", timeout=5).json()
        except httpx.TransportError:
            return False
        return status["chats"] == 2 and not status["reconciling"]

    try:
        wait_until(reconciled, timeout=30)
        status = httpx.get(base + "/status", timeout=5).json()
        assert status["chatNamespaces"] == ["arc"]
        assert "secret" not in status["namespaces"]
        detail = httpx.get(f"{base}/chats/{chat_id}", timeout=5).json()
        assert detail["namespaces"] == {"ext": 2, "tracker": 1, "variables": 1}
        assert detail["chatNamespaces"] == {"arc": 1}
        versions = httpx.get(f"{base}/chats/{chat_id}/versions", timeout=5).json()["items"]
        assert [v["version"] for v in versions] == [2, 1]
        history = httpx.get(f"{base}/chats/{chat_id}/messages/0/history/ext/n", timeout=5)
        assert [v["value"] for v in history.json()["items"]] == [1, 2]
    finally:
        process.send_signal(signal.SIGTERM)
        output, _ = process.communicate(timeout=20)
    assert process.returncode == 0, output
    assert 'index.exclude_namespaces changed ([] -> ["secret"])' in output
