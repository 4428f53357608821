"""Steps of the chat-identity tests: index or change one chat at an explicit observed time (as the
watcher gives it), and read back which chatIds own which paths and data."""

from __future__ import annotations

import time
from pathlib import Path

from sidecar.indexer.changes import index_change
from sidecar.indexer.update_state import IndexResult
from sidecar.sillytavern.discovery import locate_chat
from tests.index_harness import Harness
from tests.st_files import header, message

WINDOW = 5.0  # the default
T0 = time.time() - 3600  # "observed" times of these tests: in the past, a second apart
CHATS = "default-user/chats"


def chat(text: str = "hello") -> list[object]:
    return [
        header(integrity="i-1", arc={"chapter": 1}),
        message(text, extra={"ext": {"n": 1}}),
        message("reply", is_user=True, extra={"ext": {"n": 2}}),
    ]


def index(h: Harness, path: Path, at: float) -> IndexResult:
    location = locate_chat(h.root, path)
    assert location is not None, path
    return h.indexer.index_location(location, observed=at)


def change(h: Harness, path: Path, at: float, moved_from: Path | None = None) -> list[str]:
    """What the watcher's worker does with an event; the statuses of the files it looked at."""
    return [result.status for _path, result in index_change(h.indexer, path, moved_from, at)]


def rows(h: Harness) -> list[tuple[str, str, str]]:
    """(chat_id, rel_path, state) of every chat."""
    return sorted(h.catalog_rows("SELECT chat_id, rel_path, state FROM chats"))


def data_owners(h: Harness) -> set[str]:
    """The chat ids the extension database holds message and chat-level rows for."""
    found = h.query("ext.db", "SELECT DISTINCT chat_id FROM message_data")
    found += h.query("arc.db", "SELECT DISTINCT chat_id FROM chat_data")
    return {chat_id for (chat_id,) in found}
