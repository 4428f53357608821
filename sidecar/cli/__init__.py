"""The ``sidecar`` command line: the group, and ``main``. Each command lives in its own module
(importing only ``options``); the group adds them here, so no command module imports this one."""

from __future__ import annotations

import click

from sidecar import __version__
from sidecar.cli import (
    backups,
    importing,
    index,
    install,
    maintenance,
    recovery,
    repair,
    serve,
    show_config,
)
from sidecar.errors import SidecarError


@click.group()
@click.version_option(__version__, prog_name="sidecar")
def cli() -> None:
    """sidecar: a database for SillyTavern extensions."""


for command in (
    serve.run,
    index.index,
    show_config.show_config,
    recovery.versions_command,
    recovery.restore_command,
    maintenance.gc_command,
    maintenance.status_command,
    importing.import_valuetracker,
    repair.repair_command,
    backups.backup_command,
    backups.restore_db_command,
    install.install_sillytavern,
):
    cli.add_command(command)


def main() -> int:
    try:
        cli.main(standalone_mode=False)
    except click.ClickException as exc:
        exc.show()
        return exc.exit_code
    except SidecarError as exc:  # a storage fault met by a command: its message, no traceback
        click.echo(f"Error: {exc.message}", err=True)
        return 1
    except click.Abort:
        click.echo("Aborted.", err=True)
        return 1
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else 0
    return 0
