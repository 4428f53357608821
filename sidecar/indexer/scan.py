"""A full pass over a data root: index every chat, mark the vanished ones missing, summarise."""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

import msgspec
from sqlalchemy import select

from sidecar.errors import SidecarError
from sidecar.indexer.indexer import ChatIndexer
from sidecar.indexer.update_state import IndexResult
from sidecar.sillytavern.discovery import ChatLocation, discover_chats, shown_path
from sidecar.sillytavern.messages import chat_namespaces
from sidecar.storage.catalog_queries import catalog_counts, namespaces_in_use
from sidecar.storage.catalog_tables import chats

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
    all_namespaces: list[str] = field(default_factory=list)  # of messages and chat metadata
    history_pruned: int = 0
    problems: list[tuple[str, int, str]] = field(default_factory=list)  # path, line, reason
    seconds: float = 0.0


def plan(indexer: ChatIndexer) -> list[ChatLocation]:
    return list(discover_chats(indexer.root, indexer.discovery))


def full_scan(
    indexer: ChatIndexer,
    locations: list[ChatLocation] | None = None,
    progress: Progress | None = None,
) -> ScanSummary:
    """Index every chat of the data root; chats whose file is gone are marked missing."""
    started = time.perf_counter()
    summary = ScanSummary()
    locations = plan(indexer) if locations is None else locations
    seen: set[str] = set()
    for location in locations:
        seen.add(location.relative_path)
        result = index_safely(indexer, location)
        summary.files += 1
        summary.bytes += result.size
        summary.statuses[result.status] += 1
        if result.status not in QUIET_STATUSES:
            summary.messages_indexed += result.messages
        summary.problems.extend(
            (location.relative_path, line, reason) for line, reason in result.problems
        )
        if progress is not None:
            progress(location, result)
    for rel_path in indexer.missing_paths(seen):
        summary.statuses[indexer.mark_missing(rel_path).status] += 1
    with indexer.catalog.read() as conn:
        counts = catalog_counts(conn)
        summary.namespaces = namespaces_in_use(conn)
        metadata = conn.execute(select(chats.c.metadata_json).distinct()).scalars().all()
    summary.chats, summary.messages = counts["chats"], counts["messages"]
    chat_level = {
        ns for text in metadata if text for ns in chat_namespaces(msgspec.json.decode(text))
    }
    summary.all_namespaces = sorted(set(summary.namespaces) | chat_level)
    summary.seconds = time.perf_counter() - started
    return summary


def index_safely(indexer: ChatIndexer, location: ChatLocation) -> IndexResult:
    """Index one file; an unexpected error (a bug) is logged with its trace and reported as that
    file's problem, and the pass goes on with the next file."""
    try:
        return indexer.index_location(location)
    except SidecarError as exc:  # a storage fault (disk full, damaged file): logged where met
        return IndexResult(None, "failed", problems=[(0, f"indexing failed: {exc.message}")])
    except Exception as exc:
        log.exception("indexing %s failed", shown_path(location.relative_path))
        reason = f"indexing failed ({type(exc).__name__}: {exc}); see the log"
        return IndexResult(None, "failed", problems=[(0, reason)])
