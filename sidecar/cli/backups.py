"""``sidecar backup`` (a backup now) and ``sidecar restore-db <extension>`` (put an extension's
database back from a backup)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from sidecar.cli.options import common_options, load


@click.command("backup")
@common_options
def backup_command(config_path: Path | None, **flags: Any) -> None:
    """Back up every extension's value-tracker data and the registry now (safe while sidecar
    runs), into storage.backup_dir; keeps the newest storage.backup_keep backups."""
    from sidecar.recovery.backup import backup_now, registrations_in  # noqa: PLC0415

    settings = load(config_path, **flags)
    storage = settings.storage
    registrations = registrations_in(storage.database_dir)
    try:
        made = backup_now(storage.database_dir, storage.backups, registrations, storage.backup_keep)
    except OSError as exc:
        raise click.ClickException(f"backup failed: {exc}") from None
    click.echo(f"backup written: {made.path}")
    for entry in made.entries:
        what = (
            "registrations"
            if entry.name == "registry"
            else f"{entry.characters} characters, {entry.instances} instances, "
            f"{entry.data_keys} data keys"
        )
        click.echo(f"  {entry.file}: {what} ({entry.bytes:,} bytes)")


@click.command("restore-db")
@common_options
@click.argument("extension")
@click.option(
    "--from",
    "source",
    type=click.Path(path_type=Path, exists=True),
    help="A backup folder, or a database file; default: the newest backup holding EXTENSION.",
)
@click.option("--dry-run", is_flag=True, help="List the backups and say what would be done.")
def restore_db_command(
    config_path: Path | None, extension: str, source: Path | None, dry_run: bool, **flags: Any
) -> None:
    """Put EXTENSION's database back from a backup. The current file is kept as
    <id>.replaced-<time>.db; chat data indexed into it is rebuilt from the chat files."""
    from sidecar.daemon.wiring import restore_extension  # noqa: PLC0415
    from sidecar.errors import SidecarError  # noqa: PLC0415
    from sidecar.ids import check_id  # noqa: PLC0415
    from sidecar.recovery.backup import list_backups  # noqa: PLC0415
    from sidecar.recovery.restore import choose  # noqa: PLC0415
    from sidecar.storage.lock import DatabaseLocked, hold_lock  # noqa: PLC0415

    settings = load(config_path, **flags)
    storage = settings.storage
    try:
        check_id(extension, "extension")
        if dry_run:
            click.echo(f"backups of {extension} in {storage.backups}:")
            for backup in list_backups(storage.backups):
                entry = backup.entry(extension)
                if entry is not None:
                    click.echo(
                        f"  {backup.path}: {entry.characters} characters, "
                        f"{entry.instances} instances, {entry.data_keys} data keys"
                    )
            click.echo("would " + choose(storage.backups, extension, source, None).describe())
            return
        with hold_lock(storage.database_dir):
            said, aside = restore_extension(settings, extension, source)
    except DatabaseLocked as exc:
        raise click.ClickException(f"{exc.message}: stop sidecar to restore") from None
    except SidecarError as exc:
        raise click.ClickException(exc.message) from None
    click.echo(said)
    if aside is not None:
        click.echo(f"the replaced file is kept as {aside}")
    click.echo(
        "chat data of this extension is rebuilt from the chat files at the next start "
        "(or by sidecar index)"
    )
