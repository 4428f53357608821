"""The real ``sidecar`` command: a subprocess serving HTTP on 127.0.0.1."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.live_server import free_port, wait_until

PREFIX = "/api/plugins/valuetracker"


def _env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SIDECAR_", "XDG_"))}
    env.pop("SILLYTAVERN_DATAROOT", None)
    env.pop("JOURNAL_STREAM", None)
    env["HOME"] = str(home)
    return env


@pytest.fixture
def home(tmp_path: Path) -> Path:
    path = tmp_path / "home"
    path.mkdir()
    return path


def _start(args: list[str], home: Path, cwd: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "sidecar", *args],
        env=_env(home),
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


@pytest.fixture
def run_sidecar(home: Path, tmp_path: Path) -> Iterator[object]:
    started: list[subprocess.Popen[str]] = []

    def start(*args: str) -> subprocess.Popen[str]:
        process = _start(list(args), home, tmp_path)
        started.append(process)
        return process

    yield start
    for process in started:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)


def _answering(base: str) -> bool:
    try:
        return httpx.get(base + PREFIX + "/probe", timeout=1).status_code == 204
    except httpx.TransportError:
        return False


def test_run_without_config_uses_embedded_defaults(run_sidecar: object, home: Path) -> None:
    port = free_port()
    assert callable(run_sidecar)
    process = run_sidecar("run", "--port", str(port))
    base = f"http://127.0.0.1:{port}"
    wait_until(lambda: _answering(base) or process.poll() is not None, timeout=20)
    assert process.poll() is None
    response = httpx.post(base + PREFIX + "/register", json={"extensionId": "demo"})
    assert response.json() == {"success": True, "message": "Extension demo registered successfully"}
    db_dir = home / ".local" / "share" / "sidecar" / "databases"
    assert (db_dir / "demo.db").is_file()
    process.send_signal(signal.SIGTERM)
    output, _ = process.communicate(timeout=15)
    assert process.returncode == 0
    assert f"database folder: {db_dir}" in output
    assert "SillyTavern data folder not found" in output
    assert f"serving http://127.0.0.1:{port}{PREFIX}" in output


def test_run_finds_sillytavern_and_honours_flags(
    run_sidecar: object, home: Path, tmp_path: Path
) -> None:
    (home / "SillyTavern" / "data" / "default-user" / "chats").mkdir(parents=True)
    config = tmp_path / "config.yaml"
    config.write_text("api:\n  port: 1\nstorage:\n  database_dir: /nonexistent/never\n")
    port = free_port()
    db_dir = tmp_path / "dbs"
    assert callable(run_sidecar)
    process = run_sidecar(
        "run", "--config", str(config), "--port", str(port), "--db-dir", str(db_dir)
    )
    base = f"http://127.0.0.1:{port}"
    wait_until(lambda: _answering(base) or process.poll() is not None, timeout=20)
    assert process.poll() is None
    process.send_signal(signal.SIGINT)
    output, _ = process.communicate(timeout=15)
    assert process.returncode == 0
    assert (
        f"SillyTavern data folder (found automatically): {home / 'SillyTavern' / 'data'}" in output
    )
    assert db_dir.is_dir()


def test_config_errors_exit_non_zero_with_a_message(home: Path, tmp_path: Path) -> None:
    missing = _start(["run", "--config", str(tmp_path / "nope.yaml")], home, tmp_path)
    output, _ = missing.communicate(timeout=30)
    assert missing.returncode != 0
    assert "config file not found" in output
    bad = tmp_path / "bad.yaml"
    bad.write_text("api:\n  prot: 1\n")
    typo = _start(["config", "--config", str(bad)], home, tmp_path)
    output, _ = typo.communicate(timeout=30)
    assert typo.returncode != 0
    assert "api.prot: unknown key" in output


def test_config_command_prints_effective_settings_with_token_masked(
    home: Path, tmp_path: Path
) -> None:
    config = tmp_path / "c.yaml"
    config.write_text("api:\n  token: hunter2\n")
    shown = _start(["config", "--config", str(config)], home, tmp_path)
    output, _ = shown.communicate(timeout=30)
    assert shown.returncode == 0
    assert "hunter2" not in output
    assert "token: '********'" in output
    assert "port: 8711" in output
