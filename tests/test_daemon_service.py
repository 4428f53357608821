"""The indexing service with a real observer on a real data root: folder renames, new users,
deletes, reported on the change feed (the hub), without HTTP."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

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


@pytest.fixture(params=["native", "polling"])
def service(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[IndexService]:
    root = tmp_path / "st"
    st_save(root / "default-user" / "chats" / "Sera" / "a.jsonl", [header(), message("hi")])
    settings = Settings.model_validate({
        "storage": {"database_dir": str(tmp_path / "db")},
        "sillytavern": {"data_root": str(root)},
        "watch": {"mode": request.param, "quiet_period_ms": 50, "polling_interval_ms": 100},
    })  # fmt: skip
    registry = create_registry(settings)
    registry.open()
    svc = IndexService(settings, registry, daemon_hub(tmp_path / "db"), Notifier({}))
    svc.start()
    wait_until(lambda: svc.status()["chats"] == 1 and not svc.reconciling, timeout=15)
    yield svc
    svc.stop()
    registry.close()


def kinds(svc: IndexService) -> list[str]:
    return [event.kind for _id, event in all_events(svc.catalog)]


def chats(svc: IndexService) -> list[tuple[str, str | None, str]]:
    assert svc.catalog is not None
    with svc.catalog.read() as conn:
        rows = conn.exec_driver_sql("SELECT rel_path, character, state FROM chats").all()
    return sorted((str(a), b, str(c)) for a, b, c in rows)


def test_character_folder_renamed_keeps_its_chat(service: IndexService) -> None:
    assert service.root is not None
    chats_dir = service.root / "default-user" / "chats"
    before = service.status()["chats"]
    shutil.copytree(chats_dir / "Sera", chats_dir / "Seraphina")  # SillyTavern: copy, then delete
    shutil.rmtree(chats_dir / "Sera")
    expected = [("default-user/chats/Seraphina/a.jsonl", "Seraphina", "ok")]
    wait_until(lambda: chats(service) == expected, timeout=15)
    assert service.status()["chats"] == before
    # Events are published just after the catalog commits: wait for it rather than race it.
    wait_until(lambda: "renamed" in kinds(service), timeout=15)


def test_new_user_and_deleted_chat(service: IndexService) -> None:
    assert service.root is not None
    st_save(service.root / "bob" / "chats" / "Eve" / "e.jsonl", [header(), message("new user")])
    wait_until(lambda: len(chats(service)) == 2, timeout=15)
    (service.root / "default-user" / "chats" / "Sera" / "a.jsonl").unlink()
    wait_until(lambda: ("default-user/chats/Sera/a.jsonl", "Sera", "missing") in chats(service),
               timeout=15)  # fmt: skip
    wait_until(lambda: {"new", "missing"} <= set(kinds(service)), timeout=15)
    healthy, reason = service.health()
    assert healthy, reason


def test_periodic_rescan_catches_what_the_watcher_missed(tmp_path: Path) -> None:
    root = tmp_path / "st"
    chat = root / "default-user" / "chats" / "Sera" / "a.jsonl"
    st_save(chat, [header(), message("hi")])
    settings = Settings.model_validate({
        "storage": {"database_dir": str(tmp_path / "db")},
        "sillytavern": {"data_root": str(root)},
        "watch": {"mode": "polling", "polling_interval_ms": 60_000, "rescan_minutes": 0.005},
    })  # fmt: skip
    registry = create_registry(settings)
    registry.open()
    svc = IndexService(settings, registry, daemon_hub(tmp_path / "db"), Notifier({}))
    svc.start()
    try:
        wait_until(lambda: svc.status()["messages"] == 1, timeout=15)
        # The poller looks only once a minute: only the 0.3 s rescan can see this save.
        st_save(chat, [header(), message("hi"), message("missed by the watcher")])
        wait_until(lambda: svc.status()["messages"] == 2, timeout=15)
    finally:
        svc.stop()
        registry.close()


def test_status_says_reconciling_from_start_until_the_first_pass_ends(tmp_path: Path) -> None:
    root = tmp_path / "st"
    st_save(root / "default-user" / "chats" / "Sera" / "a.jsonl", [header(), message("hi")])
    settings = Settings.model_validate({
        "storage": {"database_dir": str(tmp_path / "db")},
        "sillytavern": {"data_root": str(root)},
        "watch": {"quiet_period_ms": 300},
    })  # fmt: skip
    registry = create_registry(settings)
    registry.open()
    svc = IndexService(settings, registry, daemon_hub(tmp_path / "db"), Notifier({}))
    svc.start()
    try:
        assert svc.status()["reconciling"] is True  # queued, not yet started: still "not done"
        wait_until(lambda: svc.status()["reconciling"] is False, timeout=15)
        assert svc.status()["chats"] == 1
    finally:
        svc.stop()
        registry.close()


def test_events_carry_the_user_whose_chat_changed(service: IndexService) -> None:
    assert service.root is not None
    st_save(service.root / "bob" / "chats" / "Eve" / "e.jsonl", [header(), message("new user")])
    st_save(
        service.root / "default-user" / "chats" / "Sera" / "a.jsonl",
        [header(), message("hi", extra={"tracker": {"hp": 1}})],
    )

    def owners() -> set[tuple[str, str | None]]:
        return {(event.kind, event.user) for _id, event in all_events(service.catalog)}

    wait_until(lambda: {("new", "bob"), ("added", "default-user")} <= owners(), timeout=15)
    assert all(user is not None for _kind, user in owners())
