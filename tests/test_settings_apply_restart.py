"""Settings changes as users meet them: ``sidecar index --reindex``, ``sidecar index`` and
``sidecar run`` with another config, and the indexing service restarted with other settings."""

from __future__ import annotations

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

from sidecar.config import Settings
from sidecar.daemon.notify import Notifier
from sidecar.daemon.service import IndexService
from sidecar.daemon.wiring import create_registry
from tests.conftest import PREFIX
from tests.event_log_helpers import all_events, daemon_hub
from tests.live_server import free_port, wait_until
from tests.settings_apply_chats import facts, first_run, indexed


@pytest.fixture
def dirs(tmp_path: Path) -> tuple[Path, Path]:
    return tmp_path / "st", tmp_path / "db"


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
