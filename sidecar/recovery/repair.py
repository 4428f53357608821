"""``sidecar repair``: everything that heals the database folder, said before it is done.

In order: the registry, then every damaged extension database (moved aside, never deleted, every
readable row salvaged into a fresh file), then the catalog (salvaged: each chat row read keeps
its ``chatId``, versions and line references; chats whose row was lost but whose versions were
read get their row back), then lost lines (each version that cannot be rebuilt is named, the
chats that still hold the lines are indexed again, and the loss is recorded as seen). Then every
chat is brought up to date from its file, and namespace rows that belong to no chat or message
are removed. The daemon must be stopped (the caller holds the folder's lock).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from sidecar.indexer.scan import ScanSummary
from sidecar.recovery import lost_packs
from sidecar.recovery.backup import list_backups
from sidecar.recovery.checks import CheckReport, check_folder
from sidecar.recovery.derived import (
    ExtensionFor,
    chats_with_lines,
    extension_chats,
    lost_hashes,
    mark_pending,
)
from sidecar.recovery.orphans import recreate_chat_rows, remove_orphans, unrebuildable_versions
from sidecar.recovery.registrations import reregister
from sidecar.recovery.salvage import Salvaged
from sidecar.recovery.salvage_files import (
    max_message_uid,
    salvage_catalog,
    salvage_extension,
    salvage_registry,
)
from sidecar.sillytavern.discovery import ChatLocation
from sidecar.storage.catalog import CatalogDatabase
from sidecar.storage.extension_db import Database
from sidecar.storage.faults import FAULTS
from sidecar.storage.linestore import LineStore
from sidecar.storage.registry import CATALOG_FILE, REGISTRY_FILE, ExtensionRegistry
from sidecar.storage.sqlite import SqliteOptions

Reindex = Callable[[Database, LineStore], ScanSummary]
Locate = Callable[[str], ChatLocation | None]


@dataclass
class RepairContext:
    database_dir: Path
    options: SqliteOptions
    registry: ExtensionRegistry
    extension_for: ExtensionFor
    backup_dir: Path
    locate: Locate | None = None  # a chat's location from its relative path (data root known)
    reindex: Reindex | None = None  # a full pass over the data root (None: no data root)


@dataclass
class RepairResult:
    check: CheckReport
    plan: list[str] = field(default_factory=list)
    done: list[str] = field(default_factory=list)
    lost_versions: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)


def _counts(report: Salvaged) -> str:
    tables = ", ".join(f"{n} {t}" for t, n in report.copied.items() if n and t != "reattached")
    extra = report.copied.get("reattached", 0)
    lost = sum(report.unreadable.values())
    text = tables or "no rows"
    if extra:
        text += f"; {extra} placeholder parents for rows whose parent was lost"
    if report.schema_lost:
        text += "; nothing could be read (the schema is damaged)"
    elif lost:
        text += f"; {lost} damaged reads skipped"
    return text


def _newest_backup(ctx: RepairContext, extension_id: str) -> str:
    for backup in list_backups(ctx.backup_dir):
        if backup.entry(extension_id) is not None:
            return f"the newest backup is from {backup.created}"
    return "there is no backup of it"


def plan(ctx: RepairContext) -> RepairResult:
    registered = {r.extension_id: r.db_file for r in ctx.registry.registrations()}
    result = RepairResult(check_folder(ctx.database_dir, registered, budget_seconds=None))
    say = result.plan.append
    files = {
        name: p for name, p in result.check.damaged.items() if lost_packs.pack_number(name) is None
    }
    for name, problem in sorted(files.items()):
        if name == REGISTRY_FILE:
            say(f"{name} is damaged ({problem.reason}): move it aside and salvage its rows")
        elif name == CATALOG_FILE:
            say(
                f"{name} is damaged ({problem.reason}): move it aside, salvage every chat, "
                "version and line reference still readable, "
                "index the rest from the chat files"
            )
        else:
            say(
                f"{name} is damaged ({problem.reason}): move it aside as "
                f"{name[:-3]}.damaged-<time>.db (kept), salvage every readable row into a fresh "
                f"{name}, index its chats again"
            )
    for ext, db_file in sorted(registered.items()):
        record = next(r for r in ctx.registry.registrations() if r.extension_id == ext)
        if record.registered and not (ctx.database_dir / db_file).exists():
            say(
                f"{db_file} of registered extension {ext} is missing: nothing to salvage; "
                f"restore it with sidecar restore-db {ext} "
                f"({_newest_backup(ctx, ext)})"
            )
    if result.check.lost_packs:
        packs = ", ".join(n for n in result.check.damaged if lost_packs.pack_number(n))
        say(
            f"{result.check.lost_lines} lines are lost from the line store ({packs}): name "
            "each version that cannot be rebuilt, store again the lines chat files still hold"
        )
    if ctx.reindex is not None:
        say("bring every chat up to date from its file; remove namespace rows of no chat")
    return result


def run(ctx: RepairContext) -> RepairResult:
    result = plan(ctx)
    done = result.done.append
    damaged = result.check.damaged
    if REGISTRY_FILE in damaged:
        salvaged = salvage_registry(ctx.database_dir / REGISTRY_FILE, ctx.options)
        FAULTS.clear(ctx.database_dir / REGISTRY_FILE)
        ctx.registry.close()
        ctx.registry.open()
        done(f"{REGISTRY_FILE}: moved aside as {salvaged.aside.name}; salvaged {_counts(salvaged)}")
        for line in reregister(ctx.registry, ctx.database_dir, ctx.backup_dir):
            done(line)
    repaired: list[str] = []
    for name in sorted(damaged):
        if name in (REGISTRY_FILE, CATALOG_FILE) or lost_packs.pack_number(name) is not None:
            continue
        path = ctx.database_dir / name
        owner = next(
            (r.extension_id for r in ctx.registry.registrations() if r.db_file == name), name[:-3]
        )
        ctx.registry.close()  # no open engine on a file being moved
        salvaged = salvage_extension(path, owner, ctx.options)
        FAULTS.clear(path)
        ctx.registry.open()
        repaired.append(owner)
        done(f"{name}: moved aside as {salvaged.aside.name}; salvaged {_counts(salvaged)}")
    catalog_path = ctx.database_dir / CATALOG_FILE
    if CATALOG_FILE in damaged:
        top = max((max_message_uid(p) for p in ctx.database_dir.glob("*.db")), default=0)
        salvaged = salvage_catalog(catalog_path, ctx.options, top)
        FAULTS.clear(catalog_path)
        back = recreate_chat_rows(catalog_path, ctx.locate)
        regained = f"; {back} chats whose row was lost got it back from their versions"
        done(
            f"{CATALOG_FILE}: moved aside as {salvaged.aside.name}; "
            f"salvaged {_counts(salvaged)}{regained if back else ''}"
        )
    catalog = CatalogDatabase(catalog_path, ctx.options)
    store = LineStore(ctx.database_dir / lost_packs.LINES_DIR)
    try:
        _lines_and_reindex(ctx, result, catalog, store, repaired)
    finally:
        store.close()
        catalog.close()
    return result


def _lines_and_reindex(
    ctx: RepairContext,
    result: RepairResult,
    catalog: Database,
    store: LineStore,
    repaired: list[str],
) -> None:
    done = result.done.append
    for pack, present in result.check.lost_packs.items():
        store.mark_lost(pack, present)
    with catalog.read() as conn:
        feeds = extension_chats(conn, ctx.extension_for)
        lost = lost_hashes(conn, store)
        result.lost_versions = unrebuildable_versions(conn, lost)
        holders = chats_with_lines(conn, lost)
    resync = set(holders)
    for ext in repaired:
        resync |= feeds.get(ext, set())
    for ext, chats in feeds.items():
        record = next((r for r in ctx.registry.registrations() if r.extension_id == ext), None)
        db_file = record.db_file if record is not None else f"{ext}.db"
        if not (ctx.database_dir / db_file).exists() and (record is None or not record.registered):
            resync |= chats
            done(f"{db_file} was missing: its chat data is rebuilt from {len(chats)} chats")
    if resync:
        mark_pending(catalog, resync)
    if ctx.reindex is not None:
        summary = ctx.reindex(catalog, store)
        failed = summary.statuses.get("failed", 0)
        done(
            f"indexed {summary.files} chat files from the data root: "
            + ", ".join(f"{n} {s}" for s, n in sorted(summary.statuses.items()))
        )
        if failed:
            result.failed.append(f"{failed} chats failed to index; see the log")
        with catalog.read() as conn:
            still = unrebuildable_versions(conn, lost_hashes(conn, store))
        removed = remove_orphans(catalog, ctx.registry)
        if removed:
            done(f"removed {removed} namespace rows that belonged to no chat or message")
        if lost:
            done(
                f"{len(result.lost_versions) - len(still)} versions made whole again by storing "
                "their lines from the chat files"
            )
        result.lost_versions = still
    if result.check.lost_packs:
        lost_packs.acknowledge(ctx.database_dir, result.check.lost_packs)
        for shown in result.check.damaged:
            if lost_packs.pack_number(shown) is not None:
                FAULTS.clear(ctx.database_dir / shown)
