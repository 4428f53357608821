"""Chat identity through the real watcher (inotify and polling) and the indexing service: twins,
renames with ``mv`` (a move event), and renames the way SillyTavern does them (copy, then
delete), within a character folder, across character folders, and of whole folders."""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from sidecar.config import Settings
from sidecar.daemon.notify import Notifier
from sidecar.daemon.service import IndexService
from sidecar.daemon.wiring import create_registry
from tests.event_log_helpers import all_events, daemon_hub
from tests.live_server import wait_until
from tests.st_files import header, message, st_save

pytestmark = pytest.mark.filterwarnings(
    "ignore:Callback with id .* already exists for watch:RuntimeWarning"
)

CHATS = "default-user/chats"
TIMEOUT = 15


def chat(text: str) -> list[Any]:
    return [header(arc={"n": 1}), message(text, extra={"ext": {"k": text}})]


def start_service(tmp: Path, mode: str, **index: Any) -> IndexService:
    settings = Settings.model_validate({
        "storage": {"database_dir": str(tmp / "db")},
        "sillytavern": {"data_root": str(tmp / "st")},
        "index": index,
        "watch": {"mode": mode, "quiet_period_ms": 50, "polling_interval_ms": 100},
    })  # fmt: skip
    registry = create_registry(settings)
    registry.open()
    service = IndexService(settings, registry, daemon_hub(tmp / "db"), Notifier({}))
    service.start()
    service.registry_to_close = registry  # type: ignore[attr-defined]
    wait_until(lambda: not service.reconciling and service.status()["chats"] > 0, TIMEOUT)
    return service


def stop_service(service: IndexService) -> None:
    service.stop()
    service.registry_to_close.close()  # type: ignore[attr-defined]


def rows(service: IndexService) -> list[tuple[str, str, str]]:
    assert service.catalog is not None
    with service.catalog.read() as conn:
        found = conn.exec_driver_sql("SELECT chat_id, rel_path, state FROM chats").all()
    return sorted((str(a), str(b), str(c)) for a, b, c in found)


def events(service: IndexService, after: int = 0) -> list[tuple[str, str]]:
    """(kind, chatId) of the change feed's events after the id ``after``."""
    return [(e.kind, e.chat_id) for ident, e in all_events(service.catalog) if ident > after]


def last_event_id(service: IndexService) -> int:
    found = all_events(service.catalog)
    return found[-1][0] if found else 0


@pytest.fixture(params=["native", "polling"])
def mode(request: pytest.FixtureRequest) -> str:
    value: str = request.param
    return value


@pytest.mark.parametrize("deleted", ["a", "b"])
def test_twins_stay_two_chats(tmp_path: Path, mode: str, deleted: str) -> None:
    """Two files with the same content, there for longer than the rename window: deleting one
    marks exactly that one missing. (A small window keeps the wait short; the default window is
    tested the same way, with given times, in test_chat_identity.)"""
    window = 0.2
    folder = tmp_path / "st" / CHATS / "Sera"
    for name in ("a", "b"):
        st_save(folder / f"{name}.jsonl", chat("same"))
    service = start_service(tmp_path, mode, rename_window_seconds=window)
    try:
        indexed_at = time.time()
        before = {path: chat_id for chat_id, path, _ in rows(service)}
        assert len(set(before.values())) == 2
        # The twins were seen when the first pass started; let more than the window go by.
        effective = window + (0.1 if mode == "polling" else 0)
        wait_until(lambda: time.time() > indexed_at + effective + 0.05, TIMEOUT)
        (folder / f"{deleted}.jsonl").unlink()
        gone = f"{CHATS}/Sera/{deleted}.jsonl"
        expected = sorted((i, p, "missing" if p == gone else "ok") for p, i in before.items())
        wait_until(lambda: rows(service) == expected, TIMEOUT)
        wait_until(lambda: ("missing", before[gone]) in events(service), TIMEOUT)
        assert "renamed" not in {kind for kind, _ in events(service)}
    finally:
        stop_service(service)


def mv_file(root: Path) -> str:
    os.rename(root / CHATS / "Sera" / "story.jsonl", root / CHATS / "Sera" / "renamed.jsonl")
    return f"{CHATS}/Sera/renamed.jsonl"


def mv_file_to_another_character(root: Path) -> str:
    os.rename(root / CHATS / "Sera" / "story.jsonl", root / CHATS / "Other" / "story.jsonl")
    return f"{CHATS}/Other/story.jsonl"


def mv_folder(root: Path) -> str:
    os.rename(root / CHATS / "Sera", root / CHATS / "Seraphina")
    return f"{CHATS}/Seraphina/story.jsonl"


def copy_then_delete_file(root: Path) -> str:
    """SillyTavern's chat rename (src/endpoints/chats.js): copyFileSync, then unlinkSync."""
    old = root / CHATS / "Sera" / "story.jsonl"
    shutil.copyfile(old, old.with_name("Story - renamed.jsonl"))
    old.unlink()
    return f"{CHATS}/Sera/Story - renamed.jsonl"


def copy_then_delete_folder(root: Path) -> str:
    """SillyTavern's character rename (src/endpoints/characters.js): cpSync, then rmSync."""
    shutil.copytree(root / CHATS / "Sera", root / CHATS / "Seraphina")
    shutil.rmtree(root / CHATS / "Sera")
    return f"{CHATS}/Seraphina/story.jsonl"


MOVES: dict[str, Callable[[Path], str]] = {
    "mv": mv_file,
    "mv-to-another-character": mv_file_to_another_character,
    "mv-folder": mv_folder,
    "copy-then-delete": copy_then_delete_file,
    "copy-then-delete-folder": copy_then_delete_folder,
}


@pytest.fixture
def watched(tmp_path: Path, mode: str) -> Iterator[IndexService]:
    """One chat, and another character's folder (with a chat of its own) to move it to."""
    st_save(tmp_path / "st" / CHATS / "Sera" / "story.jsonl", chat("story"))
    st_save(tmp_path / "st" / CHATS / "Other" / "other.jsonl", chat("other"))
    service = start_service(tmp_path, mode)
    yield service
    stop_service(service)


@pytest.mark.parametrize("how", sorted(MOVES))
def test_a_renamed_chat_keeps_its_id(watched: IndexService, how: str, mode: str) -> None:
    assert watched.root is not None
    before = rows(watched)
    [(chat_id, _path, _state)] = [row for row in before if row[1].endswith("story.jsonl")]
    others = [row for row in before if row[0] != chat_id]
    seen = last_event_id(watched)
    target = MOVES[how](watched.root)
    wait_until(lambda: rows(watched) == sorted([*others, (chat_id, target, "ok")]), TIMEOUT)
    wait_until(lambda: ("renamed", chat_id) in events(watched, seen), TIMEOUT)
    if how.startswith("mv") and mode == "native":
        # A move event is one pair: the chat was never missing, and no other chat appeared.
        assert {kind for kind, _ in events(watched, seen)} == {"renamed"}
    healthy, reason = watched.health()
    assert healthy, reason
