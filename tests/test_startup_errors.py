"""What an operator sees when sidecar cannot start: one clear line naming the cause and the path,
no traceback, and the documented exit code (``sidecar.exit_codes``), from real subprocesses."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from sidecar.exit_codes import ExitCode
from sidecar.storage.registry import CATALOG_FILE
from tests.live_server import free_port
from tests.st_files import SOLO, header, message, st_save


def sidecar(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("SIDECAR_")}
    return subprocess.run(
        [sys.executable, "-m", "sidecar", *args],
        capture_output=True, text=True, timeout=120, check=False, env=base | (env or {}),
    )  # fmt: skip


def one_error(result: subprocess.CompletedProcess[str]) -> str:
    """The whole output holds no traceback, and exactly one error line; returns it."""
    output = result.stdout + result.stderr
    assert "Traceback" not in output, output
    errors = [line for line in output.splitlines() if "ERROR" in line or "Error:" in line]
    assert len(errors) == 1, output
    return errors[0]


@pytest.fixture
def root(tmp_path: Path) -> Path:
    st_save(tmp_path / "st" / SOLO / "a.jsonl", [header(), message("hi")])
    return tmp_path / "st"


def test_a_busy_port(tmp_path: Path, root: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = sidecar("run", "--port", str(port), "--db-dir", str(tmp_path / "db"),
                         "--data-root", str(root))  # fmt: skip
    assert result.returncode == ExitCode.UNAVAILABLE
    line = one_error(result)
    assert f"port {port} on 127.0.0.1 is already in use" in line
    assert "serving" not in result.stderr  # only logged once the port is bound


def test_a_database_folder_under_a_regular_file(tmp_path: Path, root: Path) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("x")
    db_dir = blocker / "databases"
    for command in (["run", "--port", str(free_port())], ["index"]):
        result = sidecar(*command, "--db-dir", str(db_dir), "--data-root", str(root))
        assert result.returncode == ExitCode.CANNOT_CREATE, result.stderr
        line = one_error(result)
        assert f"cannot use the database folder {db_dir}" in line
        assert "a part of that path is a file, not a folder" in line
    assert blocker.read_text() == "x"


def test_a_read_only_database_folder(tmp_path: Path, root: Path) -> None:
    if os.geteuid() == 0:
        pytest.skip("root writes into read-only folders: this case needs an ordinary user")
    db_dir = tmp_path / "db"
    db_dir.mkdir(mode=0o500)
    result = sidecar("index", "--db-dir", str(db_dir), "--data-root", str(root))
    assert result.returncode == ExitCode.CANNOT_CREATE
    assert "permission denied" in one_error(result)


def test_a_damaged_catalog_stops_sidecar_index_with_its_name(tmp_path: Path, root: Path) -> None:
    db_dir = tmp_path / "db"
    db_dir.mkdir()
    (db_dir / CATALOG_FILE).write_bytes(b"this is not SQLite at all" * 400)
    result = sidecar("index", "--db-dir", str(db_dir), "--data-root", str(root))
    assert result.returncode == ExitCode.DATA_ERROR
    line = one_error(result)
    assert f"cannot open the catalog {db_dir / CATALOG_FILE}" in line
    assert "sidecar repair" in line


def test_sidecar_index_on_a_missing_data_root(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere"
    result = sidecar("index", "--db-dir", str(tmp_path / "db"), "--data-root", str(missing))
    assert result.returncode == ExitCode.NO_INPUT
    assert f"the SillyTavern data folder {missing} does not exist" in one_error(result)


def test_config_errors_from_the_environment_name_the_variable(tmp_path: Path) -> None:
    result = sidecar("config", env={"SIDECAR_API__PROT": "1", "SIDECAR_LOG__LEVEL": "loud"})
    assert result.returncode == ExitCode.CONFIG
    assert "Traceback" not in result.stderr
    assert "SIDECAR_API__PROT (environment variable): unknown key" in result.stderr
    assert "SIDECAR_LOG__LEVEL (environment variable): Input should be" in result.stderr
    in_file = tmp_path / "config.yaml"
    in_file.write_text("api:\n  prot: 1\n")
    from_file = sidecar("config", "--config", str(in_file))
    assert from_file.returncode == ExitCode.CONFIG
    assert "api.prot: unknown key" in from_file.stderr
