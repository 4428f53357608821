"""Value history and lost data: real edits, a deleted message, a shrink, and a vanished chat."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from litestar.testing import TestClient

from sidecar.config import Settings
from tests.conftest import Api, make_settings
from tests.index_harness import Harness
from tests.st_files import header, message, st_save, swiped

H = "default-user/chats/Seraphina/h.jsonl"
BOB = "bob/chats/Seraphina/b.jsonl"


def chat(n2: Any = 2, *, drop: int | None = None, summary: str | None = "s1") -> list[Any]:
    msgs: list[Any] = [
        message("m0", extra={"arm": {"n": 0}}),
        swiped(["p", "q"], 0, [{"arm": {"n": 1}}, {"arm": {"n": "one", "a/b": True}}]),
        message("m2", extra={"arm": {"n": n2}, "other": {"k": "v"}}),
        message("m3", extra={"arm": {"n": 3}}),
        message("m4", extra={"arm": {"n": 4}}),
        message("m5", extra={"arm": {"n": 5}}),
    ]
    if drop is not None:
        del msgs[drop]
    return [header(**({"arm": {"summary": summary}} if summary else {})), *msgs]


class World:
    def __init__(self, api: Api, h: Harness) -> None:
        self.api = api
        self.h = h
        self.id = h.chat_id(H)

    def save(self, lines: list[Any]) -> None:
        time.sleep(0.003)  # distinct replaced_at (milliseconds)
        st_save(self.h.root / H, lines)
        self.h.index(self.h.root / H)

    def history(self, sql_where: str, *args: Any, db: str = "arm.db") -> list[tuple[Any, ...]]:
        return self.h.query(
            db,
            "SELECT value, seen_at, replaced_at, reason, swipe FROM data_history "
            f"WHERE chat_id = ? AND {sql_where} ORDER BY id",
            self.id,
            *args,
        )

    def current(self, sql_where: str, *args: Any) -> list[tuple[Any, ...]]:
        return self.h.query(
            "arm.db",
            f"SELECT value, seen_at, swipe FROM message_data WHERE chat_id = ? AND {sql_where} "
            "ORDER BY swipe",
            self.id,
            *args,
        )


@pytest.fixture
def world(tmp_path: Path, client_factory: Callable[[Settings], TestClient[Any]]) -> Iterator[World]:
    db_dir = tmp_path / "db"
    h = Harness(tmp_path / "st", db_dir)
    st_save(h.root / H, chat())
    st_save(h.root / BOB, [header(), message("b", extra={"arm": {"n": 0}})])
    h.scan()
    yield World(Api(client_factory(make_settings(db_dir))), h)
    h.close()


def version(
    value: Any, seen_at: str, replaced_at: str | None, reason: str | None, swipe: int | None
) -> dict[str, Any]:
    return {
        "value": value,
        "seenAt": seen_at,
        "replacedAt": replaced_at,
        "reason": reason,
        "swipe": swipe,
    }


def test_history_of_an_edited_value(world: World) -> None:
    world.save(chat(20))
    world.save(chat(200))
    uid = world.h.catalog_rows(
        "SELECT msg_uid FROM messages WHERE chat_id = ? AND position = 2", world.id
    )[0][0]
    (old2, seen2, at1, _, _), (old20, seen20, at2, _, _) = world.history("msg_uid = ?", uid)
    assert (old2, old20) == ("2", "20")
    [(_, seen200, _)] = world.current("msg_uid = ? AND key = 'n'", uid)
    body = world.api.get(f"/chats/{world.id}/messages/2/history/arm/n").json()
    assert body == {
        "items": [
            version(2, seen2, at1, "changed", 0),
            version(20, seen20, at2, "changed", 0),
            version(200, seen200, None, None, 0),
        ],
        "nextCursor": None,
    }
    assert seen20 == at1  # each version was first seen when the previous one went
    assert seen200 == at2
    walked, cursor = [], None
    while True:
        params = {"limit": "1", **({"cursor": cursor} if cursor else {})}
        page = world.api.get(f"/chats/{world.id}/messages/2/history/arm/n", params=params).json()
        walked += page["items"]
        cursor = page["nextCursor"]
        if cursor is None:
            break
    assert walked == body["items"]


def test_current_values_of_each_swipe_and_odd_keys(world: World) -> None:
    [(_, seen0, _), (_, seen1, _)] = world.current("key = 'n' AND msg_uid IN "
        "(SELECT msg_uid FROM message_data WHERE swipe = 1)")  # fmt: skip
    body = world.api.get(f"/chats/{world.id}/messages/1/history/arm/n").json()
    assert body == {
        "items": [version(1, seen0, None, None, 0), version("one", seen1, None, None, 1)],
        "nextCursor": None,
    }
    odd = world.api.get(f"/chats/{world.id}/messages/1/history/arm/" + quote("a/b", safe=""))
    assert [i["value"] for i in odd.json()["items"]] == [True]


@pytest.mark.parametrize(
    ("path", "status", "error"),
    [
        ("/chats/nope/messages/0/history/arm/n", 404, "Chat not found"),
        ("/chats/{id}/messages/99/history/arm/n", 404, "Message not found"),
        ("/chats/{id}/messages/0/history/nothing_here/n", 404, "Namespace not found"),
        ("/chats/{id}/messages/0/history/arm/missing", 404, "Data key not found"),
        ("/chats/{id}/messages/0/history/other/k", 404, "Data key not found"),
        ("/chats/{id}/messages/0/history/arm/n?cursor=bad!", 400, "Invalid cursor"),
        ("/chats/{id}/messages/0/history/arm/n?cursor=WyJ4IiwxXQ", 400, "Invalid cursor"),
        ("/chats/{id}/messages/0/history/arm/n?limit=0", 400, "limit must be between 1 and 1000"),
        ("/chats/nope/history", 404, "Chat not found"),
    ],
)
def test_history_errors(world: World, path: str, status: int, error: str) -> None:
    response = world.api.get(path.format(id=world.id))
    assert response.status_code == status
    assert response.json() == {"error": error}


def test_user_scoping(world: World) -> None:
    bob = {"x-sillytavern-user": "bob"}
    for path in (f"/chats/{world.id}/history", f"/chats/{world.id}/messages/0/history/arm/n"):
        assert world.api.get(path, headers=bob).json() == {"error": "Chat not found"}
        assert (
            world.api.get(path, headers={"x-sillytavern-user": "default-user"}).status_code == 200
        )
        assert world.api.get(path).status_code == 200


def test_nothing_lost(world: World) -> None:
    world.save(chat(20))  # a change is not a loss
    assert world.api.get(f"/chats/{world.id}/history").json() == {
        "chatId": world.id,
        "state": "ok",
        "shrunkFrom": None,
        "messageCount": 6,
        "lost": [],
    }


def test_a_deleted_message_then_a_shrink(world: World) -> None:
    world.save(chat(drop=3))
    [(seen3, deleted_at)] = world.h.query(
        "arm.db", "SELECT seen_at, replaced_at FROM data_history WHERE reason = 'message_deleted'"
    )
    deleted = {
        "replacedAt": deleted_at,
        "reason": "message_deleted",
        "namespaces": {"arm": 1},
        "positions": [3, 3],
        "values": [
            {"position": 3, "swipe": 0, "namespace": "arm", "key": "n", "value": 3, "seenAt": seen3}
        ],
    }
    summary = world.api.get(f"/chats/{world.id}/history").json()
    assert summary == {
        "chatId": world.id, "state": "ok", "shrunkFrom": None, "messageCount": 5,
        "lost": [deleted],
    }  # fmt: skip
    # the message now at position 3 is m4: its own history, not m3's
    assert [
        i["value"]
        for i in world.api.get(f"/chats/{world.id}/messages/3/history/arm/n").json()["items"]
    ] == [4]

    world.save([header()])  # header only: a shrink that also drops the chat-level summary
    shrunk = [
        row
        for db in ("arm.db", "other.db")
        for row in world.h.query(
            db,
            "SELECT position, swipe, namespace, key, value, seen_at, replaced_at "
            "FROM data_history WHERE reason = 'chat_shrunk'",
        )
    ]
    [shrunk_at] = {row[6] for row in shrunk}
    values = [
        {"position": p, "swipe": s, "namespace": ns, "key": k, "value": json.loads(v), "seenAt": t}
        for p, s, ns, k, v, t, _ in shrunk
    ]
    values.sort(key=lambda i: (i["position"] is not None, i["position"] or 0, i["swipe"] or 0,
                               i["namespace"], i["key"]))  # fmt: skip
    assert values[0] == {
        "position": None, "swipe": None, "namespace": "arm", "key": "summary", "value": "s1",
        "seenAt": values[0]["seenAt"],
    }  # fmt: skip
    assert world.api.get(f"/chats/{world.id}/history").json() == {
        "chatId": world.id,
        "state": "shrunk",
        "shrunkFrom": 5,
        "messageCount": 0,
        "lost": [
            {
                "replacedAt": shrunk_at,
                "reason": "chat_shrunk",
                "namespaces": {"arm": 8, "other": 1},  # summary, 4 messages, 2 swipes (3 keys)
                "positions": [0, 4],
                "values": values,
            },
            deleted,
        ],
    }
    assert world.api.get(f"/chats/{world.id}/messages/0/history/arm/n").json() == {
        "error": "Message not found"
    }


def test_other_extension_databases_and_a_vanished_chat(world: World) -> None:
    world.save(chat(drop=2))  # m2 carried arm and other
    summary = world.api.get(f"/chats/{world.id}/history").json()
    [group] = summary["lost"]
    assert group["namespaces"] == {"arm": 1, "other": 1}
    assert [(v["namespace"], v["key"], v["value"]) for v in group["values"]] == [
        ("arm", "n", 2),
        ("other", "k", "v"),
    ]
    (world.h.root / H).unlink()
    world.h.scan()
    summary = world.api.get(f"/chats/{world.id}/history").json()
    assert (summary["state"], summary["messageCount"], summary["lost"]) == ("missing", 5, [group])
    # a vanished chat keeps its data: still queryable
    assert world.api.get("/data/arm", params={"chatId": world.id, "key": "n"}).json()["items"]
