"""``sidecar install-sillytavern <folder>``: the proxy plugin and the UI extension (with the client
module as its ``client/``) land where SillyTavern loads them, the one ``config.yaml`` change still
needed is printed, and SillyTavern's data folder and config file are never touched; also from an
installed wheel, which carries the integrations as package data."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from click.testing import CliRunner

from sidecar.cli import cli
from sidecar.cli.install import PLUGIN_FILES
from tests import handsoff
from tests.st_files import header, message, st_save

REPO = Path(__file__).resolve().parent.parent
INTEGRATIONS = REPO / "integrations"
EXTENSION = Path("public/scripts/extensions/third-party/sidecar")


def fake_sillytavern(root: Path, plugins_on: bool = False) -> Path:
    """The parts of a SillyTavern installation the command looks at, with a data folder."""
    (root / "public" / "scripts" / "extensions" / "third-party").mkdir(parents=True)
    (root / "plugins").mkdir()
    (root / "server.js").write_text("// SillyTavern\n")
    (root / "config.yaml").write_text(
        f"dataRoot: ./data\nenableServerPlugins: {str(plugins_on).lower()}\n"
    )
    st_save(
        root / "data" / "default-user" / "chats" / "Aria" / "a.jsonl", [header(), message("hi")]
    )
    return root


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def tree(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): digest(p) for p in sorted(folder.rglob("*")) if p.is_file()}


def test_install_copies_the_plugin_and_the_extension_and_touches_nothing_else(
    tmp_path: Path,
) -> None:
    st = fake_sillytavern(tmp_path / "SillyTavern")
    data = handsoff.track(handsoff.Manifest(st / "data"))
    config = digest(st / "config.yaml")
    (st / "plugins" / "sidecar-proxy").mkdir()
    (st / "plugins" / "sidecar-proxy" / "config.json").write_text('{"token": "mine"}')

    result = CliRunner().invoke(cli, ["install-sillytavern", str(st)])
    assert result.exit_code == 0, result.output
    plugin = st / "plugins" / "sidecar-proxy"
    assert {name: digest(plugin / name) for name in PLUGIN_FILES} == {
        name: digest(INTEGRATIONS / "sillytavern-plugin" / name) for name in PLUGIN_FILES
    }
    assert (plugin / "config.json").read_text() == '{"token": "mine"}'  # the user's config stays
    installed = tree(st / EXTENSION)
    assert {k: v for k, v in installed.items() if not k.startswith("client/")} == tree(
        INTEGRATIONS / "sillytavern-extension"
    )
    assert {
        k.removeprefix("client/"): v for k, v in installed.items() if k.startswith("client/")
    } == {k: v for k, v in tree(INTEGRATIONS / "client").items()}
    assert "enableServerPlugins: true" in result.output
    assert f"sidecar run --data-root {st / 'data'}" in result.output
    assert digest(st / "config.yaml") == config
    assert data.differences() == []
    handsoff.untrack(data)

    (st / EXTENSION / "stale.js").write_text("old")  # a second install replaces the extension
    again = CliRunner().invoke(cli, ["install-sillytavern", str(st)])
    assert again.exit_code == 0, again.output
    assert not (st / EXTENSION / "stale.js").exists()
    assert not [p for p in (st / EXTENSION).parent.iterdir() if p.name.startswith(".")]


def test_install_says_when_plugins_are_already_on_and_warns_about_the_old_plugin(
    tmp_path: Path,
) -> None:
    st = fake_sillytavern(tmp_path / "SillyTavern", plugins_on=True)
    (st / "plugins" / "valuetracker").mkdir()
    (st / "plugins" / "valuetracker" / "index.js").write_text(
        "const info = { id: 'valuetracker' };"
    )
    result = CliRunner().invoke(cli, ["install-sillytavern", str(st)])
    assert result.exit_code == 0, result.output
    assert "already has enableServerPlugins: true" in result.output
    assert f"Remove {st / 'plugins' / 'valuetracker'}" in result.output


def test_install_refuses_a_folder_that_is_not_sillytavern(tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    result = CliRunner().invoke(cli, ["install-sillytavern", str(tmp_path)])
    assert result.exit_code == 1
    assert "is not a SillyTavern installation" in result.output
    assert list(tmp_path.iterdir()) == [tmp_path / "data"]


def test_install_works_from_an_installed_wheel(tmp_path: Path) -> None:
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path / "dist"),
         str(REPO)],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    if built.returncode != 0 and "hatchling" in built.stderr:
        pytest.skip(f"cannot build a wheel here (no hatchling): {built.stderr[-300:]}")
    assert built.returncode == 0, built.stderr
    (wheel,) = (tmp_path / "dist").glob("sidecar-*.whl")
    site = tmp_path / "site"
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        archive.extractall(site)
    assert "sidecar/_integrations/client/sidecar-client.js" in names
    assert not [n for n in names if "/tests/" in n or "node_modules" in n]
    st = fake_sillytavern(tmp_path / "SillyTavern")
    env = {**os.environ, "PYTHONPATH": str(site)}
    code = (
        "import sidecar, sys; from sidecar.cli import main;"
        " print(sidecar.__file__); sys.exit(main())"
    )
    ran = subprocess.run(
        [sys.executable, "-c", code, "install-sillytavern", str(st)],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout.startswith(str(site / "sidecar"))  # the wheel's package, not the checkout
    assert tree(st / EXTENSION / "client") == tree(INTEGRATIONS / "client")
    assert (st / "plugins" / "sidecar-proxy" / "index.js").is_file()
