"""Chat-level namespaces (``chat_metadata.<namespace>``) are visible everywhere message namespaces
are: ``/chats/{id}``, their own routes, ``/data/{namespace}?level=chat``, value history,
``/status`` and the ``sidecar index`` summary. A real data root, the real indexer, real HTTP."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from litestar.testing import TestClient

from sidecar.api.app import create_app
from sidecar.config import Settings
from sidecar.daemon.notify import Notifier
from sidecar.daemon.service import IndexService
from sidecar.daemon.wiring import create_registry
from tests.event_log_helpers import daemon_hub
from tests.index_harness import Harness
from tests.live_server import wait_until
from tests.query_site import QuerySite
from tests.st_files import header, message, st_save

A = "alice/chats/Seraphina/a.jsonl"
B = "alice/chats/Seraphina/b.jsonl"
BOB = "bob/chats/Nova/bob.jsonl"


def chat_a(chapter: int, **more: Any) -> list[Any]:
    arc = {"chapter": chapter, "a/b": "slash", **more}
    return [
        header(integrity="i-a", arc=arc, plain_ns="just text"),
        message("hi", extra={"mood": {"v": 1}}),
    ]


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[QuerySite]:
    base = tmp_path_factory.mktemp("chat-level")
    root, db_dir = base / "root", base / "databases"
    st_save(root / A, chat_a(1, gone="soon"))
    st_save(root / B, [header(arc={"chapter": 3}), message("b")])
    st_save(root / BOB, [header(arc={"chapter": 2}), message("yo", name="Nova")])
    harness = Harness(root, db_dir)
    harness.scan()
    time.sleep(0.003)  # a distinct replaced_at (milliseconds)
    st_save(root / A, chat_a(2))  # chapter changed, "gone" removed
    harness.scan()
    ids = {rel: harness.chat_id(rel) for rel in (A, B, BOB)}
    harness.close()
    settings = Settings.model_validate(
        {"storage": {"database_dir": str(db_dir)}, "sillytavern": {"data_root": None}}
    )
    with TestClient(create_app(settings)) as client:
        yield QuerySite(client, ids)


def test_chat_detail_lists_chat_level_namespaces(site: QuerySite) -> None:
    detail = site.ok(f"/chats/{site.ids[A]}")
    assert detail["namespaces"] == {"mood": 1}
    assert detail["chatNamespaces"] == {"arc": 2, "plain_ns": 1}  # keys per namespace
    assert site.ok(f"/chats/{site.ids[B]}")["chatNamespaces"] == {"arc": 1}


def test_chat_namespace_object_and_keys(site: QuerySite) -> None:
    chat = site.ids[A]
    assert site.ok(f"/chats/{chat}/data/arc") == {"a/b": "slash", "chapter": 2}
    assert site.ok(f"/chats/{chat}/data/arc/chapter") == {"chapter": 2}
    assert site.ok(f"/chats/{chat}/data/arc/a%2Fb") == {"a/b": "slash"}
    assert site.ok(f"/chats/{chat}/data/plain_ns") == {"$value": "just text"}
    assert site.error(404, f"/chats/{chat}/data/arc/gone") == "Data key not found"
    assert site.error(404, f"/chats/{chat}/data/nothing") == "Namespace not found"
    assert site.error(404, f"/chats/{chat}/data/mood") == "Namespace not found"  # message-level
    assert site.error(404, f"/chats/{chat}/data/integrity") == "Namespace not found"
    assert site.error(404, "/chats/nope/data/arc") == "Chat not found"


def test_chat_namespace_is_scoped_to_the_user(site: QuerySite) -> None:
    path = f"/chats/{site.ids[BOB]}/data/arc"
    assert site.ok(path, as_user="bob") == {"chapter": 2}
    assert site.get(path, as_user="alice").status_code == 404


def item(site: QuerySite, rel: str, user: str, key: str, value: Any) -> dict[str, Any]:
    return {"chatId": site.ids[rel], "user": user, "key": key, "value": value}


def by_chat(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return sorted(items, key=lambda i: (i["chatId"], i["key"]))


def test_chat_level_values_across_chats(site: QuerySite) -> None:
    everything = by_chat([
        item(site, A, "alice", "a/b", "slash"),
        item(site, A, "alice", "chapter", 2),
        item(site, B, "alice", "chapter", 3),
        item(site, BOB, "bob", "chapter", 2),
    ])  # fmt: skip
    assert site.ok("/data/arc", level="chat") == {"items": everything, "nextCursor": None}
    chapters = [i for i in everything if i["key"] == "chapter"]
    assert site.ok("/data/arc", level="chat", key="chapter")["items"] == chapters
    assert site.ok("/data/arc", level="chat", key="chapter", gt="2")["items"] == [
        item(site, B, "alice", "chapter", 3)
    ]
    assert site.ok("/data/arc", level="chat", value="2")["items"] == by_chat(
        [item(site, A, "alice", "chapter", 2), item(site, BOB, "bob", "chapter", 2)]
    )
    assert site.ok("/data/arc", level="chat", user="bob")["items"] == [
        item(site, BOB, "bob", "chapter", 2)
    ]
    assert site.ok("/data/arc", level="chat", as_user="bob")["items"] == [
        item(site, BOB, "bob", "chapter", 2)
    ]
    assert site.ok("/data/arc", level="chat", user="alice", as_user="bob")["items"] == []
    assert site.ok("/data/arc", level="chat", chatId=site.ids[B])["items"] == [
        item(site, B, "alice", "chapter", 3)
    ]


def test_chat_level_pages(site: QuerySite) -> None:
    seen, cursor = [], None
    while True:
        params: dict[str, Any] = {"level": "chat", "limit": 1}
        if cursor:
            params["cursor"] = cursor
        page = site.ok("/data/arc", **params)
        seen.extend(page["items"])
        cursor = page["nextCursor"]
        if cursor is None:
            break
    assert seen == site.ok("/data/arc", level="chat")["items"]
    assert len(seen) == 4


def test_level_parameter_errors(site: QuerySite) -> None:
    assert site.error(400, "/data/arc", level="swipe") == "level must be message or chat"
    assert "message-level" in site.error(400, "/data/arc", level="chat", selected="true")
    assert site.error(404, "/data/nothing", level="chat") == "Namespace not found"
    message_level = site.ok("/data/mood")["items"]  # the default is unchanged
    assert [(i["chatId"], i["position"], i["key"]) for i in message_level] == [
        (site.ids[A], 0, "v")
    ]
    assert site.ok("/data/mood", level="message")["items"] == message_level
    assert site.ok("/data/arc")["items"] == []  # no message carries arc


def test_chat_level_value_history(site: QuerySite) -> None:
    chat = site.ids[A]
    versions = site.ok(f"/chats/{chat}/history/arc/chapter")["items"]
    assert [(v["value"], v["reason"], v["swipe"]) for v in versions] == [
        (1, "changed", None),
        (2, None, None),  # the current value, last
    ]
    assert versions[0]["replacedAt"] is not None
    assert versions[1]["replacedAt"] is None
    removed = site.ok(f"/chats/{chat}/history/arc/gone")["items"]
    assert [(v["value"], v["reason"]) for v in removed] == [("soon", "removed")]
    assert site.ok(f"/chats/{chat}/history/arc/a%2Fb")["items"][0]["value"] == "slash"
    assert site.error(404, f"/chats/{chat}/history/arc/nothing") == "Data key not found"
    assert site.error(404, f"/chats/{chat}/history/nothing/k") == "Namespace not found"
    page = site.ok(f"/chats/{chat}/history/arc/chapter", limit=1)
    rest = site.ok(f"/chats/{chat}/history/arc/chapter", cursor=page["nextCursor"])
    assert page["items"] + rest["items"] == versions
    # the chat's lost data still lists the removed chat-level value
    lost = site.ok(f"/chats/{chat}/history")["lost"]
    assert [(v["namespace"], v["key"]) for g in lost for v in g["values"]] == [("arc", "gone")]


def test_status_and_index_summary_list_chat_level_namespaces(tmp_path: Path) -> None:
    root, db_dir = tmp_path / "st", tmp_path / "db"
    st_save(root / A, chat_a(1))
    done = subprocess.run(
        [sys.executable, "-m", "sidecar", "index", "--log-level", "warning",
         "--data-root", str(root), "--db-dir", str(db_dir)],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "catalog: 1 chats, 1 messages; namespaces: arc, mood, plain_ns" in done.stdout
    assert "in messages: mood; in chat metadata: arc, plain_ns" in done.stdout
    settings = Settings.model_validate(
        {"storage": {"database_dir": str(db_dir)}, "sillytavern": {"data_root": str(root)}}
    )
    registry = create_registry(settings)
    registry.open()
    service = IndexService(settings, registry, daemon_hub(db_dir), Notifier({}))
    service.start()
    try:
        wait_until(lambda: not service.status()["reconciling"], timeout=15)
        status = service.status()
        assert status["namespaces"] == ["arc", "mood", "plain_ns"]
        assert status["messageNamespaces"] == ["mood"]
        assert status["chatNamespaces"] == ["arc", "plain_ns"]
    finally:
        service.stop()
        registry.close()
