"""GET /chats and /chats/{chatId}: a real data root, indexed by the real indexer, over HTTP."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from unittest.mock import ANY

import pytest
from litestar.testing import TestClient

from sidecar.api.app import create_app
from sidecar.config import Settings
from tests.conftest import PREFIX
from tests.index_harness import Harness
from tests.query_site import QuerySite
from tests.st_files import header, message, st_save, swiped

SOLO_A = "alice/chats/Seraphina/Chat A.jsonl"
SOLO_U = "alice/chats/Seraphina/Ünïcode Chat.jsonl"
GROUP = "alice/group chats/grp1chat.jsonl"
BOB = "bob/chats/Nova/Bob chat.jsonl"


@dataclass
class Corpus(QuerySite):
    root: Path


def write_root(root: Path) -> None:
    """Two users; a solo chat with swipes (swipe_info shorter than swipes, a message without
    swipes, a non-object namespace), a chat with a non-ASCII name, a group chat."""
    st_save(root / SOLO_A, [
        header(integrity="int-a", arc_ext={"arc": 1}),
        message("hi", name="Alice", is_user=True),
        swiped(["s0", "s1", "s2"], 1, [
            {"mood": {"v": 0, "tag": "calm"}},
            {"mood": {"v": 1}, "api": "openai", "model": "m1"},
        ]),
        message("plain", extra={"mood": {"v": 5}}),
        swiped(["x0", "x1"], 0, [{"mood": {"v": 7}}, {"mood": {"v": 8}, "notes": "n1"}]),
        message("noted", extra={"notes": "just a string"}),
    ])  # fmt: skip
    st_save(root / SOLO_U, [header(), message("hello")])
    groups = root / "alice" / "groups"
    groups.mkdir(parents=True)
    (groups / "g1.json").write_text(json.dumps({
        "id": "g1", "name": "Party", "members": ["a.png"], "chats": ["grp1chat"],
        "chat_id": "grp1chat",
    }))  # fmt: skip
    st_save(root / GROUP, [header(), message("go", name="A", extra={"party": {"hp": 3}})])
    st_save(root / BOB, [header(), message("yo", name="Nova", extra={"mood": {"v": 9}})])


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Corpus]:
    base = tmp_path_factory.mktemp("query")
    root, db_dir = base / "root", base / "databases"
    write_root(root)
    harness = Harness(root, db_dir)
    harness.scan()
    ids = {rel: harness.chat_id(rel) for rel in (SOLO_A, SOLO_U, GROUP, BOB)}
    harness.close()
    settings = Settings.model_validate(
        {"storage": {"database_dir": str(db_dir)}, "sillytavern": {"data_root": None}}
    )
    with TestClient(create_app(settings)) as client:
        yield Corpus(client, ids, root)


def item(corpus: Corpus, rel: str, **fields: Any) -> dict[str, Any]:
    base = {
        "chatId": corpus.ids[rel],
        "user": "alice",
        "kind": "solo",
        "character": "Seraphina",
        "groupId": None,
        "groupName": None,
        "fileName": Path(rel).stem,
        "messageCount": 1,
        "state": "ok",
        "lastIndexed": ANY,
    }
    base.update(fields)
    return base


def all_items(corpus: Corpus) -> list[dict[str, Any]]:
    return [
        item(corpus, SOLO_A, messageCount=5),
        item(corpus, SOLO_U),
        item(corpus, GROUP, kind="group", character=None, groupId="g1", groupName="Party"),
        item(corpus, BOB, user="bob", character="Nova"),
    ]


def test_list_every_chat_in_path_order(corpus: Corpus) -> None:
    assert corpus.ok("/chats") == {"items": all_items(corpus), "nextCursor": None}


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"user": "bob"}, [BOB]),
        ({"user": "nobody"}, []),
        ({"character": "Seraphina"}, [SOLO_A, SOLO_U]),
        ({"groupId": "g1"}, [GROUP]),
        ({"namespace": "mood"}, [SOLO_A, BOB]),
        ({"namespace": "party"}, [GROUP]),
        ({"namespace": "arc_ext"}, [SOLO_A]),  # chat-level only: the chat's metadata has it
        ({"namespace": "integrity"}, []),  # SillyTavern's own metadata key, not a namespace
        ({"q": "chat"}, [SOLO_A, SOLO_U, GROUP, BOB]),
        ({"q": "bob C"}, [BOB]),
        ({"q": "ÜNÏ"}, [SOLO_U]),  # not ASCII, still case-insensitive
        ({"q": "CHAT", "user": "alice", "character": "Seraphina", "namespace": "notes"}, [SOLO_A]),
    ],
)
def test_list_filters(corpus: Corpus, params: dict[str, str], expected: list[str]) -> None:
    found = [entry["chatId"] for entry in corpus.ok("/chats", **params)["items"]]
    assert found == [corpus.ids[rel] for rel in expected]


def test_list_pages_walk_everything_with_cursors(corpus: Corpus) -> None:
    seen: list[dict[str, Any]] = []
    cursor: str | None = None
    pages = 0
    while True:
        params: dict[str, Any] = {"limit": 1}
        if cursor is not None:
            params["cursor"] = cursor
        page = corpus.ok("/chats", **params)
        pages += 1
        assert len(page["items"]) == 1
        seen += page["items"]
        cursor = page["nextCursor"]
        if cursor is None:
            break
    assert pages == 4
    assert seen == all_items(corpus)
    two = corpus.ok("/chats", limit=2)
    assert two["items"] == all_items(corpus)[:2]
    assert corpus.ok("/chats", limit=2, cursor=two["nextCursor"]) == {
        "items": all_items(corpus)[2:],
        "nextCursor": None,
    }
    assert corpus.ok("/chats", limit=1000)["nextCursor"] is None


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"limit": 0}, "limit must be between 1 and 1000"),
        ({"limit": 1001}, "limit must be between 1 and 1000"),
        ({"cursor": "!!not-a-cursor"}, "Invalid cursor"),
        ({"cursor": "WzFd"}, "Invalid cursor"),  # [1]: a cursor of another list
        ({"cursor": "WyJhIiwiYiJd"}, "Invalid cursor"),  # ["a","b"]: wrong size
    ],
)
def test_list_bad_parameters(corpus: Corpus, params: dict[str, Any], message: str) -> None:
    assert corpus.error(400, "/chats", **params) == message


def test_list_bad_limit_type(corpus: Corpus) -> None:
    message = corpus.error(400, "/chats", limit="many")
    assert message.startswith("Invalid request: ")
    assert "limit" in message


def test_list_is_scoped_by_user_header(corpus: Corpus) -> None:
    assert corpus.ok("/chats", as_user="bob")["items"] == [all_items(corpus)[3]]
    assert corpus.ok("/chats", as_user="alice")["items"] == all_items(corpus)[:3]
    assert corpus.ok("/chats", as_user="alice", user="bob") == {"items": [], "nextCursor": None}
    assert corpus.ok("/chats", as_user="carol") == {"items": [], "nextCursor": None}


def test_chat_detail_solo(corpus: Corpus) -> None:
    chat_id = corpus.ids[SOLO_A]
    assert corpus.ok(f"/chats/{chat_id}") == {
        **item(corpus, SOLO_A, messageCount=5),
        "groupMembers": None,
        "userName": "unused",
        "characterName": "unused",
        "createDate": None,
        "integrity": "int-a",
        "metadata": {"integrity": "int-a", "arc_ext": {"arc": 1}},
        "namespaces": {"mood": 3, "notes": 2},
        "chatNamespaces": {"arc_ext": 1},
        "size": (corpus.root / SOLO_A).stat().st_size,
        "shrunkFrom": None,
        "firstSeen": ANY,
        "lastChanged": ANY,
        "missingSince": None,
        "problems": 0,
    }


def test_chat_detail_group(corpus: Corpus) -> None:
    detail = corpus.ok(f"/chats/{corpus.ids[GROUP]}")
    assert detail["kind"] == "group"
    assert detail["groupId"] == "g1"
    assert detail["groupName"] == "Party"
    assert detail["groupMembers"] == ["a.png"]
    assert detail["character"] is None
    assert detail["metadata"] == {}
    assert detail["integrity"] is None
    assert detail["namespaces"] == {"party": 1}
    assert detail["chatNamespaces"] == {}


def test_chat_detail_not_found_and_scoped(corpus: Corpus) -> None:
    chat_id = corpus.ids[BOB]
    assert corpus.error(404, "/chats/nope") == "Chat not found"
    assert corpus.error(404, f"/chats/{chat_id}", as_user="alice") == "Chat not found"
    assert corpus.ok(f"/chats/{chat_id}", as_user="bob")["chatId"] == chat_id


def test_reads_need_no_extension_header(corpus: Corpus) -> None:
    response = corpus.client.get(PREFIX + "/chats", headers={})
    assert response.status_code == 200


def test_no_catalog_yet(tmp_path: Path) -> None:
    settings = Settings.model_validate(
        {"storage": {"database_dir": str(tmp_path / "db")}, "sillytavern": {"data_root": None}}
    )
    with TestClient(create_app(settings)) as client:
        assert client.get(PREFIX + "/chats").json() == {"items": [], "nextCursor": None}
        response = client.get(PREFIX + "/chats/abc")
        assert (response.status_code, response.json()) == (404, {"error": "Chat not found"})
        response = client.get(PREFIX + "/chats/abc/messages")
        assert (response.status_code, response.json()) == (404, {"error": "Chat not found"})
    assert not (tmp_path / "db" / "sidecar.index.db").exists()
