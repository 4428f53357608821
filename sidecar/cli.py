"""The ``sidecar`` command line. Each command loads settings once and passes them on."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click
import yaml

from sidecar import __version__, import_command, maintenance_commands, recovery_commands
from sidecar.config import Settings, load_settings
from sidecar.errors import ConfigError
from sidecar.logs import setup_logging

_config_option = click.option(
    "--config",
    "config_path",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="YAML config file (see config.example.yaml). Without it, built-in defaults are used.",
)


def _common_options(command: Callable[..., None]) -> Callable[..., None]:
    """--config, --db-dir, --data-root and --log-level, shared by the commands that use them."""
    options = [
        _config_option,
        click.option("--db-dir", type=click.Path(path_type=Path, file_okay=False), default=None,
                     help="Folder for sidecar's databases."),
        click.option("--data-root", type=click.Path(path_type=Path, file_okay=False),
                     default=None,
                     help="SillyTavern's data folder (the one holding default-user/)."),
        click.option("--log-level", type=click.Choice(["debug", "info", "warning", "error"]),
                     default=None),
    ]  # fmt: skip
    for option in reversed(options):
        command = option(command)
    return command


def _overrides(**flags: Any) -> dict[str, Any]:
    """Command-line flags as a nested settings dict; unset flags are left out."""
    sections = {
        "host": ("api", "host"),
        "port": ("api", "port"),
        "db_dir": ("storage", "database_dir"),
        "data_root": ("sillytavern", "data_root"),
        "log_level": ("log", "level"),
    }
    result: dict[str, dict[str, Any]] = {}
    for flag, value in flags.items():
        if value is not None:
            section, key = sections[flag]
            result.setdefault(section, {})[key] = value
    return result


def _load(config_path: Path | None, **flags: Any) -> Settings:
    try:
        return load_settings(config_path, _overrides(**flags))
    except ConfigError as exc:
        raise click.ClickException(exc.message) from None


@click.group()
@click.version_option(__version__, prog_name="sidecar")
def cli() -> None:
    """sidecar: a database for SillyTavern extensions."""


@cli.command()
@_common_options
@click.option("--host", default=None, help="Address to bind (default 127.0.0.1).")
@click.option("--port", type=int, default=None, help="Port to listen on (default 8711).")
def run(config_path: Path | None, **flags: Any) -> None:
    """Serve the HTTP API (the value-tracker contract) until stopped."""
    settings = _load(config_path, **flags)
    setup_logging(settings.log.level)
    from sidecar.server import serve  # noqa: PLC0415 - keep `sidecar --help` fast

    sys.exit(serve(settings))


@cli.command()
@_common_options
def index(config_path: Path | None, **flags: Any) -> None:
    """Index every chat of the data root once, then print a summary. Safe to repeat: a second
    run with nothing changed writes nothing."""
    settings = _load(config_path, **flags)
    setup_logging(settings.log.level)
    from rich.console import Console  # noqa: PLC0415 - keep `sidecar --help` fast

    from sidecar.index_command import run_index  # noqa: PLC0415
    from sidecar.wiring import resolve_data_root  # noqa: PLC0415

    root = resolve_data_root(settings).sillytavern.data_root
    if root is None:
        raise click.ClickException(
            "no SillyTavern data folder: pass --data-root <SillyTavern>/data or set "
            "sillytavern.data_root"
        )
    from sidecar.storage.lock import DatabaseLocked, hold_lock  # noqa: PLC0415

    try:
        with hold_lock(settings.storage.database_dir):
            run_index(settings, root, Console(stderr=False))
    except DatabaseLocked as exc:
        raise click.ClickException(
            f"{exc.message}: a running sidecar indexes by itself; stop it to run 'sidecar index'"
        ) from None


@cli.command("config")
@_config_option
def show_config(config_path: Path | None) -> None:
    """Check a config file and print the settings in effect (the token is masked)."""
    settings = _load(config_path)
    dumped = settings.model_dump(mode="json")
    if dumped["api"]["token"]:
        dumped["api"]["token"] = "********"  # noqa: S105 - a mask, not a secret
    click.echo(yaml.safe_dump(dumped, sort_keys=False), nl=False)


recovery_commands.register(cli)
maintenance_commands.register(cli)
import_command.register(cli)


def main() -> int:
    try:
        cli.main(standalone_mode=False)
    except click.ClickException as exc:
        exc.show()
        return exc.exit_code
    except click.Abort:
        click.echo("Aborted.", err=True)
        return 1
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else 0
    return 0
