"""``sidecar repair [--dry-run]``: check every file of the database folder and heal it; says
what it will do, then what it did. Stop sidecar first (it refuses while sidecar runs)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from sidecar.cli.options import common_options, load


@click.command("repair")
@common_options
@click.option("--dry-run", is_flag=True, help="Only say what would be done.")
def repair_command(config_path: Path | None, dry_run: bool, **flags: Any) -> None:
    """Check every database and pack file; salvage damaged ones (moved aside as
    <name>.damaged-<time>.db, never deleted, every readable row copied into a fresh file),
    rebuild chat data from SillyTavern's files, name the chat versions that cannot be rebuilt."""
    from sidecar.daemon.wiring import repair_context  # noqa: PLC0415
    from sidecar.logs import setup_logging  # noqa: PLC0415
    from sidecar.recovery import repair  # noqa: PLC0415
    from sidecar.storage.lock import DatabaseLocked, hold_lock  # noqa: PLC0415

    settings = load(config_path, **flags)
    setup_logging(settings.log.level)
    database_dir = settings.storage.database_dir
    try:
        with hold_lock(database_dir), repair_context(settings) as ctx:
            click.echo(f"database folder: {database_dir}")
            result = repair.plan(ctx) if dry_run else repair.run(ctx)
    except DatabaseLocked as exc:
        raise click.ClickException(f"{exc.message}: stop sidecar to repair") from None
    if result.check.unchecked:
        click.echo(f"not fully checked (time budget): {', '.join(result.check.unchecked)}")
    if not result.plan:
        click.echo("every file is whole: nothing to repair")
    click.echo("would do:" if dry_run else "plan:")
    for line in result.plan or ["nothing"]:
        click.echo(f"  - {line}")
    if not dry_run:
        click.echo("done:")
        for line in result.done or ["nothing"]:
            click.echo(f"  - {line}")
    for line in result.lost_versions:
        click.echo(line)
    for line in result.failed:
        click.echo(f"failed: {line}", err=True)
    if result.failed:
        raise SystemExit(1)
