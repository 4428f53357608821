"""``sidecar index``: index every chat once and print a summary."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from sidecar.cli.options import CommandError, common_options, database_locked, load
from sidecar.errors import Damaged, DiskFull
from sidecar.exit_codes import ExitCode
from sidecar.logs import setup_logging


@click.command("index")
@common_options
@click.option(
    "--reindex",
    is_flag=True,
    help="Re-derive every chat from its file even if the settings did not change (chatIds, "
    "versions and value history are kept).",
)
def index(config_path: Path | None, reindex: bool, **flags: Any) -> None:
    """Index every chat of the data root once, then print a summary. Safe to repeat: a second
    run with nothing changed writes nothing. When the index.* settings that shape indexed data
    changed since the last run, every chat is re-derived from its file (the log says why)."""
    from rich.console import Console  # noqa: PLC0415 - keep `sidecar --help` fast

    from sidecar.cli.index_run import run_index  # noqa: PLC0415
    from sidecar.daemon.startup import StartupError, check_database_dir  # noqa: PLC0415
    from sidecar.daemon.wiring import resolve_data_root  # noqa: PLC0415
    from sidecar.storage.lock import DatabaseLocked, hold_lock  # noqa: PLC0415

    settings = load(config_path, **flags)
    setup_logging(settings.log.level)
    root = resolve_data_root(settings).sillytavern.data_root
    if root is None:
        raise CommandError(
            "no SillyTavern data folder: pass --data-root <SillyTavern>/data or set "
            "sillytavern.data_root",
            ExitCode.NO_INPUT,
        )
    if not root.is_dir():
        raise CommandError(
            f"the SillyTavern data folder {root} does not exist (or is not a folder)",
            ExitCode.NO_INPUT,
        )
    try:
        check_database_dir(settings.storage.database_dir)
        with hold_lock(settings.storage.database_dir):
            summary = run_index(settings, root, Console(stderr=False), reindex=reindex)
    except StartupError as exc:
        raise CommandError(exc.message, exc.exit_code) from None
    except Damaged as exc:  # checked at start: the catalog needs sidecar repair
        raise CommandError(exc.message, ExitCode.DATA_ERROR) from None
    except DiskFull as exc:
        raise CommandError(exc.message) from None
    except DatabaseLocked as exc:
        raise database_locked(
            exc.message, "a running sidecar indexes by itself; stop it to run 'sidecar index'"
        ) from None
    failed = [reason for _path, _line, reason in summary.problems if "indexing failed" in reason]
    if summary.statuses.get("failed"):
        raise CommandError(
            f"{summary.statuses['failed']} of {summary.files} chat files failed to index "
            f"({failed[0] if failed else 'see the log'}); run sidecar index again"
        )
