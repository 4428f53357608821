"""A full pass over a data root: apply changed settings, mark the vanished chats missing, index
every chat, summarise."""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

from sidecar.errors import SidecarError
from sidecar.indexer.bulk import bulk_load
from sidecar.indexer.indexer import ChatIndexer
from sidecar.indexer.namespaces import chat_namespaces_in_use
from sidecar.indexer.rederive import check_settings, rederive_missing
from sidecar.indexer.update_state import IndexResult
from sidecar.sillytavern.discovery import ChatLocation, discover_chats, shown_path
from sidecar.storage.catalog_queries import catalog_counts, namespaces_in_use

Progress = Callable[[ChatLocation, IndexResult], None]
QUIET_STATUSES = ("unchanged", "skipped", "failed")  # nothing was indexed

log = logging.getLogger(__name__)


@dataclass
class ScanSummary:
    files: int = 0
    bytes: int = 0
    statuses: Counter[str] = field(default_factory=Counter)
    messages_indexed: int = 0
    chats: int = 0
    messages: int = 0
    namespaces: list[str] = field(default_factory=list)  # of messages
    chat_namespaces: list[str] = field(default_factory=list)  # of chat metadata
    all_namespaces: list[str] = field(default_factory=list)  # of messages and chat metadata
    rederive_reason: str | None = None  # why chats were re-derived in this pass
    rederived: int = 0
    history_pruned: int = 0
    problems: list[tuple[str, int, str]] = field(default_factory=list)  # path, line, reason
    seconds: float = 0.0


def plan(indexer: ChatIndexer) -> list[ChatLocation]:
    return list(discover_chats(indexer.root, indexer.discovery))


def full_scan(
    indexer: ChatIndexer,
    locations: list[ChatLocation] | None = None,
    progress: Progress | None = None,
    *,
    reindex: bool = False,
) -> ScanSummary:
    """Index every chat of the data root; chats whose file is gone are marked missing. When the
    settings that shape indexed data changed since the last pass (or ``reindex``), every chat is
    re-derived (``rederive``).

    Vanished files are marked missing first, so a file found under a new name in the same pass
    is recognised as that chat renamed: everything this pass sees counts as observed when it
    started (``renames``)."""
    started = time.perf_counter()
    observed = time.time()
    summary = ScanSummary()
    summary.rederive_reason = check_settings(indexer, reindex=reindex).reason
    locations = plan(indexer) if locations is None else locations
    seen = {location.relative_path for location in locations}
    vanished: set[str | None] = set()
    for rel_path in indexer.missing_paths(seen):
        missing = indexer.mark_missing(rel_path, observed=observed, merge_copies=False)
        summary.statuses[missing.status] += 1
        vanished.add(missing.chat_id if missing.status == "missing" else None)
    summary.rederived += len(rederive_missing(indexer))
    with bulk_load(indexer) as load:
        for location in locations:
            if load is not None:
                load.settle()
            _index_one(indexer, location, observed, summary=summary, vanished=vanished,
                       progress=progress)  # fmt: skip
    with indexer.catalog.read() as conn:
        counts = catalog_counts(conn)
        summary.namespaces = namespaces_in_use(conn)
        summary.chat_namespaces = chat_namespaces_in_use(conn, indexer.settings.policy)
    summary.chats, summary.messages = counts["chats"], counts["messages"]
    summary.all_namespaces = sorted(set(summary.namespaces) | set(summary.chat_namespaces))
    summary.seconds = time.perf_counter() - started
    return summary


def _index_one(
    indexer: ChatIndexer,
    location: ChatLocation,
    observed: float,
    *,
    summary: ScanSummary,
    vanished: set[str | None],
    progress: Progress | None,
) -> None:
    result = index_safely(indexer, location, observed)
    summary.files += 1
    summary.bytes += result.size
    summary.statuses[result.status] += 1
    if result.status == "renamed" and result.chat_id in vanished:
        summary.statuses["missing"] -= 1  # it was not missing after all: it moved
        summary.statuses += Counter()  # drops a count that fell to 0
    summary.rederived += result.rederived
    if result.status not in QUIET_STATUSES:
        summary.messages_indexed += result.messages
    summary.problems.extend(
        (location.relative_path, line, reason) for line, reason in result.problems
    )
    if progress is not None:
        progress(location, result)


def index_safely(
    indexer: ChatIndexer, location: ChatLocation, observed: float | None = None
) -> IndexResult:
    """Index one file; an unexpected error (a bug) is logged with its trace and reported as that
    file's problem, and the pass goes on with the next file."""
    try:
        return indexer.index_location(location, observed=observed)
    except SidecarError as exc:  # a storage fault (disk full, damaged file): logged where met
        return IndexResult(None, "failed", problems=[(0, f"indexing failed: {exc.message}")])
    except Exception as exc:
        log.exception("indexing %s failed", shown_path(location.relative_path))
        reason = f"indexing failed ({type(exc).__name__}: {exc}); see the log"
        return IndexResult(None, "failed", problems=[(0, reason)])
