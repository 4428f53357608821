"""A chat saved 200 times the way SillyTavern saves (edits, swipes, deletions, CRLF and junk
endings), indexed by the real indexer after every save and served over HTTP: the ``history``
fixture (one per test module) and what it remembers of every save."""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from litestar.testing import TestClient

from sidecar.api.app import create_app
from sidecar.config import Settings
from tests.conftest import PREFIX
from tests.index_harness import Harness
from tests.st_files import SOLO, encode, header, message, st_save, swiped

SAVES = 200
CRLF = range(60, 75)  # saves written with CRLF line endings
JUNK = range(120, 130)  # saves ending with a blank line and an unparsable one
UNICODE = 'alice/chats/Nova/Ünïcode "Chat".jsonl'


@dataclass
class Save:
    data: bytes
    kind: str
    expected: tuple[int, int, int] | None  # (added, removed, edited) vs the previous save
    target: int | None = None  # the message position the save touched
    text: tuple[str | None, str | None] = (None, None)  # an edit's before/after text


@dataclass
class History:
    client: TestClient[Any]
    harness: Harness
    chat_id: str
    saves: list[Save] = field(default_factory=list)

    def get(self, path: str, *, as_user: str | None = None, **params: Any) -> Any:
        headers = {"x-sillytavern-user": as_user} if as_user else {}
        return self.client.get(PREFIX + path, params=params, headers=headers)

    def ok(self, path: str, **params: Any) -> Any:
        response = self.get(path, **params)
        assert response.status_code == 200, response.text
        return response.json()


def _framing(save: int) -> dict[str, Any]:
    return {
        "bom": 30 <= save < 45 or save % 17 == 0,
        "newline": "\r\n" if save in CRLF else "\n",
        "trailing": save % 3 == 0,
    }


def _mutate(rng: random.Random, chat: list[dict[str, Any]], save: int) -> tuple[str, Any]:
    """One SillyTavern-like change to the message list; ``(kind, detail)``."""
    kind = rng.choice(["edit", "edit", "swipe_add", "swipe_switch", "delete", "top", "append"])
    if kind in ("edit", "swipe_add", "swipe_switch", "delete") and len(chat) < 3:
        kind = "append"
    if kind == "edit":
        i = rng.randrange(len(chat))
        before = chat[i]["mes"]
        chat[i] = {**chat[i], "mes": f"edited {save}", "extra": {"ext": {"s": save}}}
        return kind, (i, before, f"edited {save}")
    if kind in ("swipe_add", "swipe_switch"):
        i = rng.randrange(len(chat))
        texts = list(chat[i].get("swipes") or [chat[i]["mes"]])
        if kind == "swipe_add" or len(texts) < 2:
            texts.append(f"swipe {save}")
            selected = len(texts) - 1
        else:
            selected = (chat[i]["swipe_id"] + 1) % len(texts)
        extras: list[dict[str, Any] | None] = [{"ext": {"k": k}} for k in range(len(texts))]
        chat[i] = swiped(texts, selected, extras, name="Seraphina")
        return kind, (i, None, texts[selected])
    if kind == "delete":
        i = rng.randrange(len(chat))
        del chat[i]
        return kind, (i, None, None)
    if kind == "top":
        chat.insert(0, message(f"top {save}", name="User", is_user=True))
        return kind, (0, None, f"top {save}")
    chat.append(message(f"tail {save}"))
    return kind, (len(chat) - 1, None, f"tail {save}")


_STATS = {
    "edit": (0, 0, 1),
    "swipe_add": (0, 0, 1),
    "swipe_switch": (0, 0, 1),
    "delete": (0, 1, 0),
    "top": (1, 0, 0),
    "append": (1, 0, 0),
}


@pytest.fixture(scope="module")
def history(tmp_path_factory: pytest.TempPathFactory) -> Iterator[History]:
    tmp = tmp_path_factory.mktemp("versions")
    harness = Harness(tmp / "st", tmp / "db")
    settings = Settings.model_validate(
        {"storage": {"database_dir": str(tmp / "db")}, "sillytavern": {"data_root": None}}
    )
    path = harness.root / SOLO / "versions.jsonl"
    rng = random.Random(20260302)
    chat: list[dict[str, Any]] = [message(f"m{i}", extra={"ext": {"n": i}}) for i in range(30)]
    with TestClient(create_app(settings)) as client:
        h = History(client, harness, "")
        try:
            for save in range(SAVES):
                kind, (target, before, after) = "initial", (None, None, None)
                if save:
                    kind, (target, before, after) = _mutate(rng, chat, save)
                # The header changes now and then (as chat_metadata does); never a message.
                head = header(integrity="v", lastInContextMessageId=save // 10)
                junk = ["", "{not json"] if save in JUNK else []
                framing = _framing(save)
                data = encode([head, *chat, *junk], **framing)
                st_save(path, data)
                # Switching line endings rewrites every line; under CRLF, a final newline's
                # coming or going rewrites the last line (its "\r"): no known stats then.
                previous = _framing(save - 1)
                same_lines = save and previous["newline"] == framing["newline"]
                if framing["newline"] == "\r\n" and previous["trailing"] != framing["trailing"]:
                    same_lines = False
                expected = _STATS.get(kind) if same_lines else None
                h.saves.append(Save(data, kind, expected, target, (before, after)))
                assert harness.index(path).status in ("new", "updated")
                if not h.chat_id:
                    h.chat_id = harness.chat_id(f"{SOLO}/versions.jsonl")
                # The version just indexed downloads byte for byte.
                got = h.get(f"/chats/{h.chat_id}/versions/{save + 1}/file")
                assert got.status_code == 200, save
                assert got.content == data, save
            # Finally SillyTavern saves the header alone: a shrink.
            data = encode([header(integrity="v", lastInContextMessageId=99)])
            st_save(path, data)
            h.saves.append(Save(data, "shrink", (0, len(chat), 0)))
            harness.index(path)
            other = harness.root / UNICODE
            st_save(other, [header(integrity="u"), message("hi")])
            harness.index(other)
            yield h
        finally:
            harness.close()
