"""What ``sidecar import-valuetracker`` does: check every old plugin database and every target
extension first (read-only), then import each file in one transaction of its extension.

One bad file or one refusal means nothing is imported. The old files are only ever read.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import click
from sqlalchemy import Connection, select
from sqlalchemy.exc import SQLAlchemyError

from sidecar.cli.import_report import print_plan
from sidecar.clock import utc_now_iso
from sidecar.config import Settings
from sidecar.daemon.wiring import create_registry, sqlite_options
from sidecar.errors import Conflict, InvalidInput, SidecarError
from sidecar.ids import is_valid_id
from sidecar.storage.lock import lock_path
from sidecar.storage.registry import REGISTRY_FILE
from sidecar.storage.schema import extension_records
from sidecar.storage.sqlite import read_snapshot
from sidecar.tracker.legacy_import import (
    Existing,
    ImportPlan,
    import_into,
    make_plan,
    read_existing,
)
from sidecar.tracker.legacy_read import read_legacy
from sidecar.tracker.legacy_translate import Translation, translate


@dataclass
class Target:
    """One old file and the extension it goes to, once checked."""

    source: Path
    extension_id: str
    translation: Translation
    state: str  # "new", "registered" or "not registered" (known, deregistered)
    preview: ImportPlan


def sources_of(old: Path, extension: str | None, database_dir: Path) -> list[tuple[Path, str]]:
    if old.resolve() == database_dir.resolve() or old.resolve().parent == database_dir.resolve():
        raise click.ClickException(
            f"{old} is sidecar's own database folder (or in it); give the old plugin's "
            "<SillyTavern>/db folder or one of its .db files"
        )
    if old.is_dir():
        if extension is not None:
            raise click.UsageError(
                "--extension is for importing one file; a folder imports each .db file as the "
                "extension named by its file name"
            )
        files = sorted(path for path in old.glob("*.db") if path.is_file())
        if not files:
            raise click.ClickException(f"no .db files in {old}")
        return [(path, path.stem) for path in files]
    if not old.exists():
        raise click.ClickException(f"{old} does not exist")
    return [(old, extension if extension is not None else old.stem)]


def _records(settings: Settings) -> dict[str, tuple[str, bool]]:
    """extension id -> (db_file, registered), read without writing anything."""
    path = settings.storage.database_dir / REGISTRY_FILE
    if not path.is_file():
        return {}
    with read_snapshot(path, sqlite_options(settings)) as conn:
        rows = conn.execute(
            select(
                extension_records.c.extension_id,
                extension_records.c.db_file,
                extension_records.c.registered,
            )
        ).all()
    return {row.extension_id: (row.db_file, bool(row.registered)) for row in rows}


@contextmanager
def _peek(settings: Settings, db_file: str) -> Iterator[Connection | None]:
    path = settings.storage.database_dir / db_file
    if not path.is_file():
        yield None
        return
    with read_snapshot(path, sqlite_options(settings)) as conn:
        yield conn


def _check(settings: Settings, source: Path, extension_id: str, *, merge: bool, now: str) -> Target:
    """Read, translate and plan one file against sidecar's current rows (read-only)."""
    if not is_valid_id(extension_id):
        raise InvalidInput(
            f"{extension_id!r} is not a valid sidecar extension id (^[A-Za-z0-9_-]{{1,128}}$); "
            f"import this file alone with --extension <id>"
        )
    translation = translate(read_legacy(source, settings.storage.busy_timeout_ms), now)
    records = _records(settings)
    db_file, registered = records.get(extension_id, (f"{extension_id}.db", False))
    owner = next((e for e, (f, _) in records.items() if f == db_file and e != extension_id), None)
    if owner is not None:
        raise Conflict(
            f"{db_file} in sidecar's database folder belongs to extension {owner} (its dbPath)"
        )
    state = "registered" if registered else "not registered" if extension_id in records else "new"
    with _peek(settings, db_file) as conn:
        existing = read_existing(conn, translation) if conn is not None else Existing()
    plan = make_plan(translation, existing, extension_id=extension_id, merge=merge, now=now)
    return Target(source, extension_id, translation, state, plan)


def _sidecar_running(database_dir: Path) -> bool:
    """Whether another process holds the folder's lock; creates and writes nothing."""
    try:
        fd = os.open(lock_path(database_dir), os.O_RDONLY)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)  # closing drops a shared lock taken just now
    return False


def _write(settings: Settings, target: Target, *, merge: bool, now: str) -> ImportPlan:
    """Import one target, then register its extension if it is not (like POST /register; a
    known extension keeps the file it had)."""
    registry = create_registry(settings)
    registry.open()
    try:
        db = registry.index_database(target.extension_id)
        if db is None:
            raise Conflict(f"{target.extension_id}.db belongs to another extension")
        plan = import_into(
            db, target.translation, extension_id=target.extension_id, merge=merge, now=now
        )
        if target.state != "registered":
            db_file = db.path.name
            default = db_file == f"{target.extension_id}.db"
            registry.register(target.extension_id, None if default else db_file)
        return plan
    finally:
        registry.close()


def run_import(
    settings: Settings, sources: list[tuple[Path, str]], merge: bool, dry_run: bool
) -> None:
    now = utc_now_iso()
    targets: list[Target] = []
    problems: list[str] = []
    for source, extension_id in sources:
        try:
            targets.append(_check(settings, source, extension_id, merge=merge, now=now))
        except SidecarError as exc:
            named = len(sources) == 1 or str(source) in exc.message
            problems.append(exc.message if named else f"{source}: {exc.message}")
        except SQLAlchemyError as exc:
            problems.append(f"{source}: cannot read sidecar's database of {extension_id}: {exc}")
    if problems and len(sources) == 1:
        raise click.ClickException(problems[0])
    if problems:
        raise click.ClickException(
            "nothing was imported; fix these first (move files you do not want out of the "
            "folder; import a file whose name is not a valid id alone, with --extension):\n  "
            + "\n  ".join(problems)
        )
    for target in targets:
        try:
            plan = target.preview if dry_run else _write(settings, target, merge=merge, now=now)
        except (SidecarError, SQLAlchemyError) as exc:
            message = exc.message if isinstance(exc, SidecarError) else str(exc)
            raise click.ClickException(
                f"importing {target.source} into {target.extension_id} failed, nothing of it "
                f"was written: {message}"
            ) from None
        print_plan(target.source, target.extension_id, target.state, plan, dry_run=dry_run)
    database_dir = settings.storage.database_dir
    if dry_run:
        click.echo(
            "Dry run: nothing was written. Run the same command without --dry-run to import."
        )
        if _sidecar_running(database_dir):
            click.echo("Note: sidecar is running; stop it before the real import.")
    else:
        click.echo(f"Imported {len(targets)} database(s) into {database_dir}.")
