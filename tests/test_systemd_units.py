"""The shipped systemd units: required settings, and ``systemd-analyze verify`` when installed."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest

from sidecar.exit_codes import ExitCode

UNITS = Path(__file__).resolve().parent.parent / "systemd"
SYSTEM_UNIT = UNITS / "sidecar.service"
USER_UNIT = UNITS / "sidecar.user.service"

Unit = dict[str, dict[str, list[str]]]

HARDENING = {
    "ProtectSystem": "strict",
    "ProtectHome": "read-only",
    "PrivateTmp": "yes",
    "NoNewPrivileges": "yes",
    "ProtectKernelTunables": "yes",
    "ProtectKernelModules": "yes",
    "ProtectKernelLogs": "yes",
    "ProtectControlGroups": "yes",
    "ProtectClock": "yes",
    "ProtectHostname": "yes",
    "RestrictAddressFamilies": "AF_UNIX AF_INET AF_INET6",
    "RestrictNamespaces": "yes",
    "RestrictRealtime": "yes",
    "RestrictSUIDSGID": "yes",
    "LockPersonality": "yes",
    "MemoryDenyWriteExecute": "yes",
    "SystemCallArchitectures": "native",
    "SystemCallFilter": "@system-service",
    "CapabilityBoundingSet": "",
    "UMask": "0077",
}


def parse_unit(text: str) -> Unit:
    """A unit file as {section: {key: [values in order]}}: keys may repeat; comments (# ;) and
    blank lines are skipped; a trailing backslash continues the line."""
    sections: Unit = {}
    current: dict[str, list[str]] | None = None
    pending = ""
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not pending and (not line or line[0] in "#;"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        line, pending = pending + line, ""
        if line.startswith("[") and line.endswith("]"):
            current = sections.setdefault(line[1:-1], {})
            continue
        key, sep, value = line.partition("=")
        if not sep or current is None:
            raise ValueError(f"line {number}: not a key=value line inside a section: {raw!r}")
        current.setdefault(key.strip(), []).append(value.strip())
    return sections


def single(unit: Unit, section: str, key: str) -> str:
    """The one value of ``key``; a missing or repeated key fails the test."""
    values = unit.get(section, {}).get(key, [])
    assert len(values) == 1, f"[{section}] {key}= expected once, found {values}"
    return values[0]


@pytest.fixture(scope="module")
def system_unit() -> Unit:
    return parse_unit(SYSTEM_UNIT.read_text())


@pytest.fixture(scope="module")
def user_unit() -> Unit:
    return parse_unit(USER_UNIT.read_text())


def test_parser_keeps_repeated_keys_and_continuations() -> None:
    unit = parse_unit(
        "# comment\n[Service]\nEnvironment=A=1\n; other comment\nEnvironment=B=2\n"
        "ExecStart=/bin/echo \\\n  two\nCapabilityBoundingSet=\n"
    )
    assert unit["Service"]["Environment"] == ["A=1", "B=2"]
    assert unit["Service"]["ExecStart"] == ["/bin/echo  two"]
    assert unit["Service"]["CapabilityBoundingSet"] == [""]
    with pytest.raises(ValueError, match="line 1"):
        parse_unit("Type=notify\n")


@pytest.mark.parametrize("path", [SYSTEM_UNIT, USER_UNIT], ids=["system", "user"])
def test_common_service_settings(path: Path) -> None:
    unit = parse_unit(path.read_text())
    assert single(unit, "Service", "Type") == "notify"
    assert single(unit, "Service", "Restart") == "on-failure"
    assert single(unit, "Service", "WatchdogSec") == "30"
    assert single(unit, "Service", "TimeoutStopSec") == "15"
    # Exit codes a restart cannot fix (sidecar.exit_codes): no restart loop on them.
    prevented = {int(code) for code in single(unit, "Service", "RestartPreventExitStatus").split()}
    assert prevented == {ExitCode.CANNOT_CREATE, ExitCode.CONFIG}
    argv = shlex.split(single(unit, "Service", "ExecStart"))
    assert argv[0].endswith("/bin/sidecar")
    assert argv[1] == "run"
    assert "--config" in argv
    assert single(unit, "Unit", "Description")


def test_system_unit(system_unit: Unit) -> None:
    service = "Service"
    assert single(system_unit, service, "NotifyAccess") == "main"
    assert single(system_unit, service, "User") == "sidecar"
    assert single(system_unit, service, "Group") == "sidecar"
    assert single(system_unit, service, "StateDirectory") == "sidecar"
    assert single(system_unit, service, "RestartSec") == "2"
    assert shlex.split(single(system_unit, service, "ExecStart")) == [
        "/opt/sidecar/venv/bin/sidecar",
        "run",
        "--config",
        "/etc/sidecar/config.yaml",
        "--db-dir",
        "${STATE_DIRECTORY}",
    ]
    assert single(system_unit, service, "ReadOnlyPaths").startswith("/")
    assert single(system_unit, "Install", "WantedBy") == "multi-user.target"
    assert "useradd --system --home /var/lib/sidecar" in SYSTEM_UNIT.read_text()


@pytest.mark.parametrize(("key", "expected"), HARDENING.items(), ids=list(HARDENING))
def test_system_unit_hardening(system_unit: Unit, key: str, expected: str) -> None:
    assert single(system_unit, "Service", key) == expected


def test_user_unit(user_unit: Unit) -> None:
    assert single(user_unit, "Service", "ExecStart") == (
        "%h/.venvs/sidecar/bin/sidecar run --config %h/.config/sidecar/config.yaml"
    )
    assert single(user_unit, "Install", "WantedBy") == "default.target"
    # User managers may ignore sandboxing (older systemd): the unit must not pretend to have it.
    assert not {"User", "Group", *HARDENING} & set(user_unit["Service"])


# --- systemd-analyze verify -------------------------------------------------------------------


@pytest.fixture
def analyze() -> str:
    found = shutil.which("systemd-analyze")
    if found is None:
        pytest.skip("systemd-analyze is not installed")
    return found


def _verifiable_copy(source: Path, folder: Path, extra: str = "") -> Path:
    """A copy that can be verified on any machine: ExecStart runs `true` (the real binary is not
    installed here) with the same arguments, and User=/Group= (absent here) are dropped."""
    true = shutil.which("true") or "/bin/true"
    lines = []
    for line in source.read_text().splitlines():
        if line.startswith(("User=", "Group=")):
            continue
        if line.startswith("ExecStart="):
            program, _, arguments = line.removeprefix("ExecStart=").partition(" ")
            assert program.endswith("/sidecar")
            lines.append(f"ExecStart={true} {arguments}")
        else:
            lines.append(line)
        if line == "[Service]" and extra:
            lines.append(extra)
    folder.mkdir()
    copy = folder / "sidecar.service"
    copy.write_text("\n".join(lines) + "\n")
    return copy


def _verify(analyze: str, copy: Path, *, user: bool, runtime_dir: Path) -> list[str]:
    """Problems ``systemd-analyze verify`` finds in ``copy``: a failing exit status or any
    message about a line of the file (unknown key, bad value...). Other messages are about
    the machine, not the unit, and are ignored."""
    runtime_dir.mkdir(mode=0o700)
    # A user manager needs XDG_RUNTIME_DIR even to verify; use a private one.
    env = {**os.environ, "XDG_RUNTIME_DIR": str(runtime_dir), "SYSTEMD_LOG_COLOR": "0"}
    command = [analyze, *(["--user"] if user else []), "verify", str(copy)]
    result = subprocess.run(
        command, capture_output=True, text=True, env=env, timeout=120, check=False
    )
    output = (result.stdout + result.stderr).splitlines()
    syntax = re.compile(re.escape(str(copy)) + r":\d+:")
    problems = [line for line in output if syntax.search(line)]
    if result.returncode != 0:
        problems.append(f"exit status {result.returncode}: {' | '.join(output)}")
    return problems


@pytest.mark.parametrize(
    ("source", "user"), [(SYSTEM_UNIT, False), (USER_UNIT, True)], ids=["system", "user"]
)
def test_systemd_analyze_verify(analyze: str, source: Path, user: bool, tmp_path: Path) -> None:
    copy = _verifiable_copy(source, tmp_path / "unit")
    assert _verify(analyze, copy, user=user, runtime_dir=tmp_path / "runtime") == []


def test_systemd_analyze_verify_catches_mistakes(analyze: str, tmp_path: Path) -> None:
    """The check above is not vacuous: a misspelt key and a bad value are reported."""
    copy = _verifiable_copy(
        SYSTEM_UNIT, tmp_path / "unit", extra="ProtectSytem=strict\nRestartSec=soon"
    )
    problems = _verify(analyze, copy, user=False, runtime_dir=tmp_path / "runtime")
    assert len(problems) == 2, problems
