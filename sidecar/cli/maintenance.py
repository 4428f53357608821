"""``sidecar gc`` (drop chat versions outside the retention, compact the line store) and
``sidecar status`` (what the catalog holds and how much disk it takes; read-only)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click
from sqlalchemy.exc import SQLAlchemyError

from sidecar.cli.options import common_options, load
from sidecar.config import Settings
from sidecar.storage.catalog_queries import catalog_counts as count_rows
from sidecar.storage.sqlite import SqliteOptions, read_snapshot


def _size(count: int) -> str:
    value = float(count)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1000 or unit == "GB":
            return f"{value:,.0f} {unit}" if unit == "B" else f"{value:,.1f} {unit}"
        value /= 1000
    raise AssertionError  # pragma: no cover


def catalog_counts(database_dir: Path) -> dict[str, int] | None:
    """Rows in the catalog (chats, missing chats, messages, versions, problems), read through a
    read-only connection, or None if there is no catalog yet."""
    from sidecar.storage.registry import CATALOG_FILE  # noqa: PLC0415

    path = database_dir / CATALOG_FILE
    if not path.is_file():
        return None
    try:
        with read_snapshot(path, SqliteOptions()) as conn:  # one snapshot for every count
            return count_rows(conn)
    except SQLAlchemyError as exc:
        raise click.ClickException(f"cannot read the catalog {path}: {exc}") from None


def storage_section(database_dir: Path) -> None:
    """Damaged files, lost lines and the versions they cost (a quick check of every file)."""
    from sidecar.recovery.backup import registrations_in  # noqa: PLC0415
    from sidecar.recovery.checks import describe_folder  # noqa: PLC0415

    registered = {r.extension_id: r.db_file for r in _registrations(database_dir, registrations_in)}
    found = describe_folder(database_dir, registered)
    click.echo("storage: " + ("every file whole" if not found else "problems (see sidecar repair)"))
    for line in found:
        click.echo(f"  {line}")


def _registrations(database_dir: Path, read: Any) -> list[Any]:
    try:
        return list(read(database_dir))
    except Exception:
        return []


def _retention(settings: Settings) -> str:
    days, count = settings.index.versions_keep_days, settings.index.versions_keep_count
    parts = []
    if days is not None:
        parts.append(f"versions seen in the last {days:g} days")
    if count is not None:
        parts.append(f"the newest {count} versions of each chat")
    return " or ".join(parts) if parts else "every version (no retention configured)"


@click.command("gc")
@common_options
def gc_command(config_path: Path | None, **flags: Any) -> None:
    """Delete chat versions outside index.versions_keep_days / index.versions_keep_count
    (the current version of each chat is always kept), then the lines only they used, and
    compact the line store. Stop sidecar first: gc refuses to run while it does."""
    from sidecar.daemon.wiring import sqlite_options  # noqa: PLC0415
    from sidecar.logs import setup_logging  # noqa: PLC0415
    from sidecar.recovery.gc import GcError, run_gc  # noqa: PLC0415

    settings = load(config_path, **flags)
    setup_logging(settings.log.level)
    storage_section(settings.storage.database_dir)
    click.echo(f"keeping {_retention(settings)}")
    try:
        report = run_gc(
            database_dir=settings.storage.database_dir,
            options=sqlite_options(settings),
            keep_days=settings.index.versions_keep_days,
            keep_count=settings.index.versions_keep_count,
        )
    except GcError as exc:
        raise click.ClickException(exc.message) from None
    click.echo(
        f"versions removed: {report.versions_removed} "
        f"({report.versions_rewritten} kept versions rewritten as full line lists)"
    )
    click.echo(f"lines removed: {report.lines_removed}")
    click.echo(
        f"line store: {_size(report.store_bytes_before)} -> "
        f"{_size(report.store_bytes_after)} ({_size(report.bytes_freed)} freed)"
    )


@click.command("status")
@common_options
def status_command(config_path: Path | None, **flags: Any) -> None:
    """Print what the catalog holds and the disk space of each database. Read-only: safe
    while sidecar runs."""
    from sidecar.recovery.disk_usage import disk_usage  # noqa: PLC0415

    settings = load(config_path, **flags)
    database_dir = settings.storage.database_dir
    click.echo(f"database folder: {database_dir}")
    storage_section(database_dir)
    try:
        counts = catalog_counts(database_dir)
    except click.ClickException as exc:
        click.echo(f"catalog: unreadable ({exc.message.splitlines()[0]})")
        counts = {}
    if counts is None:
        click.echo("catalog: none yet (run sidecar index or sidecar run)")
    elif counts:
        click.echo(f"chats: {counts['chats']} ({counts['missing']} missing)")
        click.echo(f"messages: {counts['messages']}")
        click.echo(f"versions: {counts['versions']}")
        click.echo(f"lines: {counts['lines']}")
        click.echo(f"problems: {counts['problems']}")
    usage = disk_usage(database_dir)
    click.echo("disk usage:")
    click.echo(f"  catalog: {_size(usage['catalog'])}")
    click.echo(f"  line store: {_size(usage['line_store'])}")
    click.echo(f"  registry: {_size(usage['registry'])}")
    for name, size in usage["extensions"].items():
        click.echo(f"  extension {name}: {_size(size)}", nl=True)
    click.echo(f"  total: {_size(usage['total'])}")
