"""What every command shares: the ``--config``/``--db-dir``/``--data-root``/``--log-level``
options and loading the settings once from them. Command modules import this module; the group in
``sidecar.cli`` imports the command modules (never the other way round)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from sidecar.config import Settings, load_settings
from sidecar.errors import ConfigError
from sidecar.exit_codes import ExitCode

config_option = click.option(
    "--config",
    "config_path",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="YAML config file (see config.example.yaml). Without it, built-in defaults are used.",
)

db_dir_option = click.option(
    "--db-dir",
    type=click.Path(path_type=Path, file_okay=False),
    default=None,
    help="Folder for sidecar's databases.",
)


def common_options(command: Callable[..., None]) -> Callable[..., None]:
    """--config, --db-dir, --data-root and --log-level, shared by the commands that use them."""
    options = [
        config_option,
        db_dir_option,
        click.option("--data-root", type=click.Path(path_type=Path, file_okay=False),
                     default=None,
                     help="SillyTavern's data folder (the one holding default-user/)."),
        click.option("--log-level", type=click.Choice(["debug", "info", "warning", "error"]),
                     default=None),
    ]  # fmt: skip
    for option in reversed(options):
        command = option(command)
    return command


_FLAG_KEYS = {
    "host": ("api", "host"),
    "port": ("api", "port"),
    "db_dir": ("storage", "database_dir"),
    "data_root": ("sillytavern", "data_root"),
    "log_level": ("log", "level"),
}


def overrides(**flags: Any) -> dict[str, Any]:
    """Command-line flags as a nested settings dict; unset flags are left out."""
    result: dict[str, dict[str, Any]] = {}
    for flag, value in flags.items():
        if value is not None:
            section, key = _FLAG_KEYS[flag]
            result.setdefault(section, {})[key] = value
    return result


class CommandError(click.ClickException):
    """A command failed for a reason the user can act on: one message, and the exit code that
    says which (``sidecar.exit_codes``)."""

    def __init__(self, message: str, exit_code: ExitCode = ExitCode.FAILURE) -> None:
        super().__init__(message)
        self.exit_code = int(exit_code)  # type: ignore[misc] # click declares it per class


def load(config_path: Path | None, **flags: Any) -> Settings:
    """The settings in effect for this command (loaded once, then passed on); a config error
    is a one-line command-line error."""
    try:
        return load_settings(config_path, overrides(**flags))
    except ConfigError as exc:
        raise CommandError(exc.message, ExitCode.CONFIG) from None


def database_locked(message: str, hint: str) -> CommandError:
    """Another sidecar process holds the database folder."""
    return CommandError(f"{message}: {hint}", ExitCode.LOCKED)
