"""``sidecar install-sillytavern <folder>``: copy the proxy plugin and the UI extension into a
SillyTavern installation, then say what is still needed.

What goes where (the places SillyTavern loads them from):

- ``integrations/sillytavern-plugin/`` -> ``<folder>/plugins/sidecar-proxy/`` (its files are
  replaced; a ``config.json`` the user wrote there stays);
- ``integrations/sillytavern-extension/`` with ``integrations/client/`` as its ``client/`` ->
  ``<folder>/public/scripts/extensions/third-party/sidecar/`` (replaced as a whole: nothing of
  the user's lives there, the extension's settings are in SillyTavern's own settings).

The client module has one source in the repository (``integrations/client/``); the extension
imports it as ``./client/sidecar-client.js`` and gets its copy here, the way the client's README
tells any extension to ship it. The command only writes those two folders: never SillyTavern's
data folder, never its ``config.yaml`` (it reads it to tell whether server plugins are on).

The files come from the installed package (a wheel carries them as ``sidecar/_integrations``) or,
in a source checkout, from the repository's ``integrations/``.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import click
import yaml

import sidecar

PLUGIN_FOLDER = "sidecar-proxy"
EXTENSION_FOLDER = "sidecar"
PLUGIN_SOURCE = "sillytavern-plugin"
EXTENSION_SOURCE = "sillytavern-extension"
CLIENT_SOURCE = "client"
PLUGIN_FILES = ("index.js", "config.js", "package.json", "README.md", "config.example.json")
THIRD_PARTY = Path("public", "scripts", "extensions", "third-party")


class InstallError(click.ClickException):
    """The folder is not a SillyTavern installation, or a copy failed."""


def integrations_dir() -> Path:
    """Where the plugin, the extension and the client are: in the package, else the checkout."""
    package = Path(sidecar.__file__).resolve().parent
    for candidate in (package / "_integrations", package.parent / "integrations"):
        if (candidate / EXTENSION_SOURCE / "manifest.json").is_file():
            return candidate
    raise InstallError(
        f"the SillyTavern integrations are missing from {package} (a broken install)"
    )


def check_sillytavern(folder: Path) -> None:
    """Refuse anything that does not look like a SillyTavern installation (its server files)."""
    if not folder.is_dir():
        raise InstallError(f"{folder} is not a folder")
    missing = [p for p in ("server.js", "public/scripts/extensions") if not (folder / p).exists()]
    if missing:
        raise InstallError(
            f"{folder} is not a SillyTavern installation (no {', '.join(missing)} in it): give the "
            "folder that holds server.js and config.yaml"
        )


def _copy_files(source: Path, target: Path, names: tuple[str, ...]) -> None:
    target.mkdir(parents=True, exist_ok=True)
    for name in names:
        staged = target / f".{name}.installing"
        shutil.copyfile(source / name, staged)
        os.replace(staged, target / name)


def install_plugin(source: Path, folder: Path) -> Path:
    target = folder / "plugins" / PLUGIN_FOLDER
    _copy_files(source / PLUGIN_SOURCE, target, PLUGIN_FILES)
    return target


def _tree(source: Path, target: Path) -> None:
    shutil.copytree(source, target, ignore=shutil.ignore_patterns(".*", "node_modules", "tests"))


def install_extension(source: Path, folder: Path, name: str = EXTENSION_FOLDER,
                      extension: Path | None = None) -> Path:  # fmt: skip
    """Copy ``extension`` (default: the UI extension) with the client as its ``client/`` into
    SillyTavern's third-party extensions as ``name``, replacing an earlier copy in one rename."""
    parent = folder / THIRD_PARTY
    parent.mkdir(parents=True, exist_ok=True)
    target = parent / name
    staging = Path(tempfile.mkdtemp(prefix=f".{name}-", dir=parent))
    try:
        built = staging / name
        _tree(extension or source / EXTENSION_SOURCE, built)
        _tree(source / CLIENT_SOURCE, built / "client")
        old = staging / "previous"
        if target.exists():
            os.replace(target, old)
        os.replace(built, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


def other_valuetracker_plugins(folder: Path) -> list[Path]:
    """Other server plugins with the id ``valuetracker`` (the old Value Tracker plugin)."""
    plugins = folder / "plugins"
    found = []
    for entry in sorted(plugins.iterdir()) if plugins.is_dir() else []:
        if entry.name == PLUGIN_FOLDER or not entry.is_dir():
            continue
        for script in ("index.js", "index.mjs", "index.cjs"):
            path = entry / script
            if path.is_file() and "valuetracker" in path.read_text("utf-8", errors="replace"):
                found.append(entry)
                break
    return found


def read_config(folder: Path) -> dict[str, object] | None:
    """SillyTavern's ``config.yaml`` (read only), or None when absent or unreadable."""
    try:
        loaded = yaml.safe_load((folder / "config.yaml").read_text("utf-8"))
    except (OSError, yaml.YAMLError):
        return None
    return loaded if isinstance(loaded, dict) else None


def next_steps(folder: Path) -> list[str]:
    """What the user still has to do, as lines to print."""
    config = read_config(folder)
    lines = []
    if config is None:
        lines += [
            f"SillyTavern writes {folder / 'config.yaml'} on its first start; then set in it",
            "(sidecar never edits it):",
            "    enableServerPlugins: true",
        ]
    elif config.get("enableServerPlugins") is not True:
        lines += [
            f"One change is still needed in {folder / 'config.yaml'} (sidecar never edits it):",
            "    enableServerPlugins: true",
        ]
    else:
        lines.append(f"{folder / 'config.yaml'} already has enableServerPlugins: true.")
    data_root = Path(str((config or {}).get("dataRoot") or "./data"))
    data_root = data_root if data_root.is_absolute() else folder / data_root
    lines += [
        "Then restart SillyTavern, and run sidecar beside it:",
        f"    sidecar run --data-root {data_root}",
    ]
    return lines


@click.command("install-sillytavern")
@click.argument("folder", type=click.Path(path_type=Path, file_okay=False))
def install_sillytavern(folder: Path) -> None:
    """Copy the proxy plugin and the UI extension into the SillyTavern installation FOLDER."""
    folder = folder.expanduser().absolute()
    check_sillytavern(folder)
    source = integrations_dir()
    try:
        plugin = install_plugin(source, folder)
        extension = install_extension(source, folder)
    except OSError as exc:
        raise InstallError(f"cannot copy into {folder}: {exc}") from None
    click.echo(f"Installed the proxy plugin:  {plugin}")
    click.echo(f"Installed the UI extension:  {extension}")
    for old in other_valuetracker_plugins(folder):
        click.echo(f"Remove {old}: it is another plugin with the id valuetracker (the old Value "
                   "Tracker plugin), and SillyTavern loads only one of them.")  # fmt: skip
    for line in next_steps(folder):
        click.echo(line)
