"""The work of ``sidecar index``: a one-shot full scan with a progress bar and a summary."""

from __future__ import annotations

import os
import sqlite3
import time
from pathlib import Path

from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TransferSpeedColumn,
)
from sqlalchemy.exc import DatabaseError as SQLAlchemyDatabaseError

from sidecar.cli.options import CommandError
from sidecar.config import Settings
from sidecar.daemon.wiring import create_indexer, create_registry, prepare_storage
from sidecar.errors import Damaged
from sidecar.exit_codes import ExitCode
from sidecar.indexer.retention import apply_retention
from sidecar.indexer.scan import ScanSummary, full_scan, plan
from sidecar.indexer.update_state import IndexResult
from sidecar.sillytavern.discovery import ChatLocation
from sidecar.storage.event_log import prune_events
from sidecar.storage.faults import FAULTS
from sidecar.storage.registry import CATALOG_FILE

MAX_PROBLEMS_SHOWN = 50


def _size(path: Path) -> int:
    try:
        return os.stat(path).st_size
    except OSError:
        return 0


def run_index(
    settings: Settings, root: Path, console: Console, *, reindex: bool = False
) -> ScanSummary:
    registry = create_registry(settings)
    registry.open()
    try:
        # Check every file and heal derived data first (sidecar.recovery.startup).
        prepared = prepare_storage(settings, registry, announce=False)
    except (sqlite3.DatabaseError, SQLAlchemyDatabaseError, Damaged) as exc:
        registry.close()
        fault = FAULTS.damage_of(settings.storage.database_dir / CATALOG_FILE)
        reason = fault.reason if fault else getattr(exc, "orig", None) or exc
        raise CommandError(
            f"cannot open the catalog {settings.storage.database_dir / CATALOG_FILE} ({reason}); "
            "it may be damaged: run sidecar repair",
            ExitCode.DATA_ERROR,
        ) from None
    except BaseException:
        registry.close()
        raise
    catalog, line_store = prepared.catalog, prepared.line_store
    for shown, problem in sorted(prepared.report.damaged.items()):
        if FAULTS.damage_of(problem.path) is None:
            continue  # healed already
        console.print(f"damaged: {shown}: {problem.reason}; indexed without it (run sidecar "
                      "repair)", markup=False, highlight=False)  # fmt: skip
    for sentence in prepared.healed:
        console.print(f"self-repair: {sentence}", markup=False, highlight=False)
    try:
        indexer = create_indexer(settings, registry, catalog, line_store, root)
        locations = plan(indexer)
        total = sum(_size(loc.path) for loc in locations)
        started = time.perf_counter()
        done = {"files": 0, "messages": 0}
        columns = (
            TextColumn("[bold]indexing"),
            BarColumn(),
            TextColumn("{task.fields[files]}"),
            DownloadColumn(),
            TransferSpeedColumn(),
            TextColumn("{task.fields[rate]}"),
            TimeElapsedColumn(),
        )
        with Progress(*columns, console=console) as progress:
            task = progress.add_task("index", total=total, files="", rate="")

            def advance(location: ChatLocation, result: IndexResult) -> None:
                done["files"] += 1
                if result.status not in ("unchanged", "skipped"):
                    done["messages"] += result.messages
                rate = done["messages"] / max(time.perf_counter() - started, 1e-6)
                progress.update(
                    task,
                    advance=_size(location.path),
                    files=f"{done['files']}/{len(locations)} files",
                    rate=f"{rate:,.0f} messages/s",
                )

            summary = full_scan(indexer, locations, advance, reindex=reindex)
        with catalog.write() as conn:  # the change feed keeps its newest events only
            prune_events(conn, settings.events.buffer_size)
        days = settings.index.history_retention_days
        if days is not None:
            extensions = {ext for ns in summary.all_namespaces
                          if (ext := indexer.settings.policy.extension_for(ns))}  # fmt: skip
            summary.history_pruned = apply_retention(registry.index_database, extensions, days)
        print_summary(summary, console)
        return summary
    finally:
        line_store.close()
        catalog.close()
        registry.close()


def print_summary(summary: ScanSummary, console: Console) -> None:
    statuses = ", ".join(f"{count} {status}" for status, count in sorted(summary.statuses.items()))
    console.print(
        f"{summary.files} chat files ({summary.bytes / 1e6:,.1f} MB read) in "
        f"{summary.seconds:.1f} s: {statuses or 'nothing to do'}"
    )
    console.print(
        f"catalog: {summary.chats} chats, {summary.messages} messages; "
        f"namespaces: {', '.join(summary.all_namespaces) or 'none'}",
        markup=False,
        highlight=False,
    )
    if summary.all_namespaces:
        console.print(
            f"  in messages: {', '.join(summary.namespaces) or 'none'}; "
            f"in chat metadata: {', '.join(summary.chat_namespaces) or 'none'}",
            markup=False,
            highlight=False,
        )
    if summary.rederive_reason is not None:
        console.print(
            f"re-derived: {summary.rederived} chats ({summary.rederive_reason})",
            markup=False,
            highlight=False,
        )
    if summary.history_pruned:
        console.print(f"history: {summary.history_pruned} values older than the retention removed")
    if not summary.problems:
        console.print("problems: none")
        return
    console.print(f"problems: {len(summary.problems)}")
    for path, line, reason in summary.problems[:MAX_PROBLEMS_SHOWN]:  # never wrapped: one a line
        console.print(f"  {path}:{line}: {reason}", markup=False, highlight=False, soft_wrap=True)
    if len(summary.problems) > MAX_PROBLEMS_SHOWN:
        console.print(f"  ... and {len(summary.problems) - MAX_PROBLEMS_SHOWN} more")
