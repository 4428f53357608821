"""``sidecar import-valuetracker``: load databases of the old "SillyTavern Value Tracker" Node
plugin (``<SillyTavern>/db/<extensionId>.db``) into sidecar. The work is in
``sidecar.cli.import_run``, imported when the command runs so ``sidecar --help`` stays fast."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from sidecar.cli.options import CommandError, config_option, db_dir_option, load
from sidecar.exit_codes import ExitCode
from sidecar.ids import is_valid_id


@click.command("import-valuetracker")
@config_option
@db_dir_option
@click.argument("old", type=click.Path(path_type=Path))
@click.option(
    "--extension",
    default=None,
    help="Extension id to import a single file as (default: its file name).",
)
@click.option(
    "--merge",
    is_flag=True,
    help="Import into an extension that already has data: imported rows replace rows "
    "with the same ids, other rows are kept.",
)
@click.option("--dry-run", is_flag=True, help="Show what would be imported; write nothing.")
def import_valuetracker(
    config_path: Path | None,
    old: Path,
    extension: str | None,
    merge: bool,
    dry_run: bool,
    **flags: Any,
) -> None:
    """Import the old Value Tracker plugin's database OLD (a .db file, or its folder
    <SillyTavern>/db with one .db file per extension). Stop SillyTavern and sidecar first."""
    from sidecar.cli.import_run import run_import, sources_of  # noqa: PLC0415
    from sidecar.storage.lock import DatabaseLocked, hold_lock  # noqa: PLC0415

    settings = load(config_path, **flags)
    if extension is not None and not is_valid_id(extension):
        raise click.BadParameter("must match ^[A-Za-z0-9_-]{1,128}$", param_hint="--extension")
    sources = sources_of(old, extension, settings.storage.database_dir)
    if dry_run:
        run_import(settings, sources, merge, dry_run=True)
        return
    try:
        with hold_lock(settings.storage.database_dir):
            run_import(settings, sources, merge, dry_run=False)
    except DatabaseLocked as exc:
        raise CommandError(
            f"sidecar is running ({exc.message}): stop it first, then run the import "
            "again (while it runs, extensions can write the data through its HTTP API)",
            ExitCode.LOCKED,
        ) from None
