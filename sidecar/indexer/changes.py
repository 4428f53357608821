"""What the watcher reported, indexed: a chat file, a folder (its chats), a folder that vanished,
or a move of either (the chats move with it and keep their ids)."""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path

from sqlalchemy import select

from sidecar.errors import SidecarError
from sidecar.indexer import renames
from sidecar.indexer.indexer import ChatIndexer
from sidecar.indexer.update_state import IndexResult
from sidecar.sillytavern.discovery import locate_chat, shown_path
from sidecar.storage.catalog_tables import chats

log = logging.getLogger(__name__)

Indexed = tuple[Path, IndexResult]


def index_change(
    indexer: ChatIndexer, path: Path, moved_from: Path | None = None, observed: float | None = None
) -> Iterator[Indexed]:
    """Index what is now at ``path`` (``moved_from``: the watcher saw it move from there). Yields
    each chat file looked at with its result. An unexpected error (a bug) is logged with its trace
    and that file is skipped; the others go on."""
    if moved_from is not None and (path.is_dir() or indexer.catalogued_under(moved_from)):
        yield from _folder_moved(indexer, path, moved_from, observed)
    elif path.is_dir() or (not path.exists() and indexer.catalogued_under(path)):
        yield from _folder(indexer, path, observed)  # appeared, or vanished as a whole
    elif moved_from is not None:
        yield from _one(path, partial(index_moved, indexer, path, moved_from, observed))
    else:
        yield from _one(path, partial(indexer.index_path, path, observed=observed))


def _folder(indexer: ChatIndexer, folder: Path, observed: float | None) -> Iterator[Indexed]:
    """Index what is in the folder, and mark what left it missing."""
    for path in sorted(set(_chat_files(folder)) | set(indexer.catalogued_under(folder))):
        yield from _one(path, partial(indexer.index_path, path, observed=observed))


def _folder_moved(
    indexer: ChatIndexer, folder: Path, moved_from: Path, observed: float | None
) -> Iterator[Indexed]:
    """A folder moved (a character folder renamed with ``mv``): each chat catalogued under the
    old folder moves to the same place under the new one; then whatever else is there."""
    moved = set()
    for source in sorted(indexer.catalogued_under(moved_from)):
        dest = folder / source.relative_to(moved_from)
        moved.add(dest)
        yield from _one(dest, partial(index_moved, indexer, dest, source, observed))
    for path in sorted(set(_chat_files(folder)) - moved):
        yield from _one(path, partial(indexer.index_path, path, observed=observed))


def index_moved(
    indexer: ChatIndexer, path: Path, moved_from: Path, observed: float | None = None
) -> IndexResult | None:
    """The watcher saw the file at ``moved_from`` move to ``path``: the chat there moves with it
    (keeping its id, no content check: it is the same file), then whatever is at ``path`` now is
    indexed."""
    when = time.time() if observed is None else observed
    dest = locate_chat(indexer.root, path, indexer.discovery)
    source = locate_chat(indexer.root, moved_from, indexer.discovery)
    if dest is None or source is None or os.path.lexists(moved_from):
        # Moved out of the chats (gone for sidecar), or in from elsewhere (new), or something is
        # at the source again: each side is simply what it is now.
        if source is not None and dest is None:
            return indexer.index_location(source, observed=when)
        return None if dest is None else indexer.index_location(dest, observed=when)
    with indexer.catalog.read() as conn:
        moved = conn.execute(select(chats).where(chats.c.rel_path == source.relative_path)).first()
        there = conn.execute(select(chats).where(chats.c.rel_path == dest.relative_path)).first()
    if moved is None or not os.path.lexists(path):
        if moved is not None:
            indexer.mark_missing(source.relative_path, observed=when)
        return indexer.index_location(dest, observed=when)
    if there is not None:
        if there.first_seen < renames.iso_at(when - indexer.rename_window):
            # Moved over a chat file sidecar knew: that path keeps its chat (its file was
            # replaced: a save of it), and the moved chat's own file is gone.
            indexer.mark_missing(source.relative_path, observed=when)
            return indexer.index_location(dest, observed=when)
        # ``there`` was indexed moments ago as a new chat: the file this move brought, seen
        # before the move itself was processed. It is the moved chat.
        same = there.file_hash == moved.file_hash
        renames.merge_copy(indexer.stores, indexer.settings, moved, there, same_content=same)
    else:
        with indexer.catalog.write() as conn:
            renames.move_row(conn, moved, dest)
    result = indexer.index_location(dest, observed=when)
    if result.chat_id == moved.chat_id and result.status in ("unchanged", "updated"):
        result.status, result.renamed_from = "renamed", source.relative_path
    return result


def _chat_files(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*.jsonl") if p.is_file()] if folder.is_dir() else []


def _one(path: Path, index: Callable[[], IndexResult | None]) -> Iterator[Indexed]:
    try:
        result = index()
    except SidecarError as exc:  # a storage fault (disk full, damaged file), logged where met
        yield path, IndexResult(None, "failed", problems=[(0, f"indexing failed: {exc.message}")])
        return
    except Exception:
        log.exception("indexing %s failed", shown_path(path))
        return
    if result is not None:
        yield path, result
