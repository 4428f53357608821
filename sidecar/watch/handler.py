"""The watchdog event handler: maps each event to the paths that may have changed, and only
enqueues them (it runs on the observer's single dispatcher thread: no I/O, no parsing here)."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import Protocol, cast

from watchdog.events import (
    EVENT_TYPE_CLOSED,
    EVENT_TYPE_CREATED,
    EVENT_TYPE_DELETED,
    EVENT_TYPE_MODIFIED,
    EVENT_TYPE_MOVED,
    FileSystemEvent,
    FileSystemEventHandler,
)

from sidecar.sillytavern.discovery import (
    CHAT_SUFFIX,
    CHATS_DIR,
    GROUP_CHATS_DIR,
    DiscoveryOptions,
)

log = logging.getLogger(__name__)

# "closed" is close-after-write (an in-place writer's last event); opened, closed_no_write and
# attrib never change a chat's bytes. A directory's "modified" only says an entry in it changed,
# and that entry has its own event: reporting the folder would re-expand it on every save.
FILE_EVENT_TYPES = frozenset(
    {
        EVENT_TYPE_CREATED,
        EVENT_TYPE_DELETED,
        EVENT_TYPE_MODIFIED,
        EVENT_TYPE_MOVED,
        EVENT_TYPE_CLOSED,
    }
)
DIR_EVENT_TYPES = frozenset({EVENT_TYPE_CREATED, EVENT_TYPE_DELETED, EVENT_TYPE_MOVED})


class Sink(Protocol):
    """Where the handler puts what it found: a path to look at, with the path it was moved from
    when the event was a move between two chat paths."""

    def __call__(self, path: Path, moved_from: Path | None = ..., /) -> None: ...


class ChatEventHandler(FileSystemEventHandler):
    """on_any_event only: map an event to the path(s) that may have changed and hand them to
    ``sink``. A move between two chat paths (``mv``, a folder rename) is handed over as one pair,
    ``sink(dest, src)``, so the indexer knows that src became dest; a move in from elsewhere (a
    SillyTavern save: its temp file ``<chat>.jsonl.<digits>`` renamed over the chat) reports the
    destination, a move out reports the source (it vanished). Other events report ``src_path``.
    Directory creations, deletions and moves report the directory (the worker expands it). Only
    names that can be a chat file, or a folder on the way to one, pass: never ``*.png``, never
    SillyTavern's temp files.

    The filter looks at names only (the file may already be gone) and is deliberately a little
    wider than discovery (it cannot tell a legacy root from a user folder without I/O);
    ``locate_chat`` makes the exact decision when the path is processed.
    """

    def __init__(
        self,
        root: Path,
        sink: Sink | Callable[[Path], None],
        options: DiscoveryOptions | None = None,
    ) -> None:
        super().__init__()
        self.root = Path(os.path.abspath(root))
        self._prefix = os.path.join(str(self.root), "")  # the root with one trailing separator
        self._sink = sink
        self._options = options or DiscoveryOptions()

    def on_any_event(self, event: FileSystemEvent) -> None:
        try:
            for path, moved_from in self.changes_for(event):
                if moved_from is None:
                    self._sink(path)
                else:
                    cast(Sink, self._sink)(path, moved_from)
        except Exception:  # an exception here would end the observer's dispatcher thread
            log.exception("watch: cannot handle %r", event)

    def paths_for(self, event: FileSystemEvent) -> list[Path]:
        """The paths worth processing for ``event``."""
        return [path for path, _moved_from in self.changes_for(event)]

    def changes_for(self, event: FileSystemEvent) -> list[tuple[Path, Path | None]]:
        """(path, moved_from) pairs worth processing for ``event``: at most one."""
        is_dir = event.is_directory
        if event.event_type not in (DIR_EVENT_TYPES if is_dir else FILE_EVENT_TYPES):
            return []
        src = self._wanted_path(event.src_path, is_dir=is_dir)
        if event.event_type != EVENT_TYPE_MOVED:
            return [] if src is None else [(src, None)]
        dest = self._wanted_path(event.dest_path, is_dir=is_dir)
        if dest is None:
            return [] if src is None else [(src, None)]
        return [(dest, src)]

    def _wanted_path(self, raw: bytes | str, *, is_dir: bool) -> Path | None:
        text = os.fsdecode(raw)
        return Path(text) if text and self._wanted(text, is_dir=is_dir) else None

    def _wanted(self, path: str, *, is_dir: bool) -> bool:
        parts = self._parts(path)
        if parts is None or any(self._skipped(part) for part in parts):
            return False
        if is_dir:
            return _on_the_way_to_chats(parts)
        return bool(parts) and parts[-1].endswith(CHAT_SUFFIX) and _holds_chats(parts[:-1])

    def _parts(self, path: str) -> tuple[str, ...] | None:
        """``path`` relative to the root, as parts; None when outside it."""
        if path == str(self.root):
            return ()
        if not path.startswith(self._prefix):
            return None
        return tuple(part for part in path[len(self._prefix) :].split(os.sep) if part)

    def _skipped(self, name: str) -> bool:
        options = self._options
        return name in options.skip_dir_names or name.startswith(options.skip_prefixes)


def _holds_chats(folder: tuple[str, ...]) -> bool:
    """Can chat files sit directly in this folder (relative to the root)? ``<user>/chats``,
    ``<user>/chats/<character>``, ``<user>/group chats``, or the same without ``<user>/`` (a
    legacy root)."""
    for rest in (folder, folder[1:]):
        if rest in ((CHATS_DIR,), (GROUP_CHATS_DIR,)) or (len(rest) == 2 and rest[0] == CHATS_DIR):
            return True
    return False


def _on_the_way_to_chats(folder: tuple[str, ...]) -> bool:
    """Is this folder one that holds chats, or an ancestor of one (the root, a user folder)?"""
    return len(folder) <= 1 or _holds_chats(folder)
