"""What the indexing side does with its files at start: check them, record what is damaged, and
heal derived data by itself.

Automatic (derived data, nothing a user made can be lost):

* a damaged database of an extension that was never registered (it holds namespace rows only):
  moved aside, its readable rows salvaged, its chats indexed again from their files;
* a missing database of such an extension: its chats indexed again (the file is created anew);
* lines lost from the line store: the chats whose files still hold them are indexed again,
  which stores those lines again.

Not automatic (primary data): a damaged catalog (it holds the version lists), registry or
registered extension database. They are recorded in :data:`FAULTS`, so what needs them answers
503 naming the file, until a person runs ``sidecar repair``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

from sidecar.errors import Damaged
from sidecar.recovery import lost_packs
from sidecar.recovery.checks import CheckReport, FileProblem, check_folder
from sidecar.recovery.derived import (
    ExtensionFor,
    chats_with_lines,
    extension_chats,
    lost_hashes,
    mark_pending,
)
from sidecar.recovery.salvage_files import salvage_extension
from sidecar.storage.catalog import CatalogDatabase
from sidecar.storage.faults import FAULTS
from sidecar.storage.linestore import LineStore
from sidecar.storage.registry import CATALOG_FILE, REGISTRY_FILE, ExtensionRegistry
from sidecar.storage.sqlite import SqliteOptions

log = logging.getLogger("sidecar.storage")


@dataclass
class Prepared:
    catalog: CatalogDatabase
    line_store: LineStore
    report: CheckReport
    healed: list[str] = field(default_factory=list)  # what was done, one sentence each


def record(report: CheckReport, database_dir: Path, *, announce: bool = True) -> None:
    """Put what the check found into :data:`FAULTS` (lost lines a repair acknowledged are not
    a fault any more: they are reported by ``sidecar status``)."""
    accepted = lost_packs.acknowledged(database_dir)
    for shown, problem in report.damaged.items():
        pack = lost_packs.pack_number(shown)
        if pack is not None and accepted.get(pack) == report.lost_packs.get(pack):
            continue
        FAULTS.damaged(problem.path, problem.reason, shown, announce=announce)


def prepare_storage(
    database_dir: Path,
    options: SqliteOptions,
    registry: ExtensionRegistry,
    extension_for: ExtensionFor,
    *,
    announce: bool = True,
) -> Prepared:
    """Check, record, open the catalog and line store, heal derived data. Raises
    :class:`Damaged` when the catalog is damaged (no indexing until ``sidecar repair``)."""
    registered = {r.extension_id: r.db_file for r in registry.registrations()}
    report = check_folder(database_dir, registered)
    record(report, database_dir, announce=announce)
    for registration in registry.registrations():
        path = database_dir / registration.db_file
        if registration.registered and not path.exists():  # never started over empty
            restore = f"restore it with sidecar restore-db {registration.extension_id}"
            report.damaged[path.name] = FileProblem(
                path, path.name, f"the file is missing; {restore}"
            )
            FAULTS.damaged(path, report.damaged[path.name].reason, announce=announce)
    log.info(
        "checked the database folder in %.1f s: %s",
        report.seconds,
        ", ".join(sorted(report.damaged)) + " damaged" if report.damaged else "all well",
    )
    catalog_fault = FAULTS.damage_of(database_dir / CATALOG_FILE)
    if catalog_fault is not None:
        what = f"{catalog_fault.shown} is damaged ({catalog_fault.reason})"
        raise Damaged(f"indexing is stopped: {what}; run sidecar repair", catalog_fault.shown)
    catalog = CatalogDatabase(database_dir / CATALOG_FILE, options)
    line_store = LineStore(database_dir / lost_packs.LINES_DIR)
    for pack, present in report.lost_packs.items():
        line_store.mark_lost(pack, present)
    prepared = Prepared(catalog, line_store, report)
    heal(prepared, database_dir, options, registry, extension_for)
    return prepared


def heal(
    prepared: Prepared,
    database_dir: Path,
    options: SqliteOptions,
    registry: ExtensionRegistry,
    extension_for: ExtensionFor,
) -> None:
    """Rebuild derived data (see the module docstring); chats are marked for a resync, which
    the reconcile pass that follows carries out."""
    catalog, report = prepared.catalog, prepared.report
    ever_registered = {r.extension_id: r.db_file for r in registry.registrations()}
    registry_ok = FAULTS.damage_of(database_dir / REGISTRY_FILE) is None
    with catalog.read() as conn:
        feeds = extension_chats(conn, extension_for)
        lost = lost_hashes(conn, prepared.line_store) if prepared.line_store.lost else set()
        lost_chats = chats_with_lines(conn, lost)
    resync: set[str] = set()
    for ext, chats in sorted(feeds.items()):
        if ext in ever_registered:
            continue  # may hold value-tracker data: only sidecar repair touches it
        path = database_dir / f"{ext}.db"
        problem = report.problem(path.name)
        if problem is not None and registry_ok and path.exists():
            salvaged = salvage_extension(path, ext, options)
            FAULTS.clear(path)
            prepared.healed.append(
                f"{path.name} was damaged ({problem.reason}): moved aside as "
                f"{salvaged.aside.name}, {salvaged.rows} rows salvaged, {len(chats)} chats "
                "indexed again"
            )
        elif not path.exists():
            prepared.healed.append(f"{path.name} was missing: {len(chats)} chats indexed again")
        else:
            continue
        resync |= chats
    if lost_chats:
        prepared.healed.append(
            f"{len(lost)} lines lost from the line store: {len(lost_chats)} chats that still "
            "hold some of them indexed again"
        )
        resync |= lost_chats
    if resync:
        mark_pending(catalog, resync)
    for sentence in prepared.healed:
        log.warning("self-repair: %s", sentence)
