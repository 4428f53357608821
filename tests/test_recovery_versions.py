"""Versions of a chat over HTTP: the list with per-save stats, exact files, diffs; on a chat saved
200 times the way SillyTavern saves (tests/versions_history.py), indexed after every save."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from tests.st_files import SOLO
from tests.versions_history import SAVES, UNICODE, History


def test_every_version_downloads_byte_identical(history: History) -> None:
    h = history
    for number, save in enumerate(h.saves, start=1):
        response = h.get(f"/chats/{h.chat_id}/versions/{number}/file")
        assert response.status_code == 200
        assert response.content == save.data, number
        assert response.headers["content-type"].startswith("application/jsonl")
        assert response.headers["content-disposition"] == 'attachment; filename="versions.jsonl"'


def test_download_name_non_ascii(history: History) -> None:
    h = history
    chat_id = h.harness.chat_id(UNICODE)
    response = h.get(f"/chats/{chat_id}/versions/1/file")
    assert response.status_code == 200
    name = 'Ünïcode "Chat".jsonl'
    assert response.headers["content-disposition"] == (
        "attachment; filename=\"_n_code _Chat_.jsonl\"; filename*=UTF-8''" + quote(name, safe="")
    )


def test_storage_grows_with_what_changed(history: History) -> None:
    h = history
    packs = sum(p.stat().st_size for p in (h.harness.db_dir / "lines").iterdir())
    [(ops,)] = h.harness.catalog_rows(
        "SELECT sum(length(ops)) FROM versions WHERE chat_id = ?", h.chat_id
    )
    distinct = {
        line for save in h.saves for line in save.data.removeprefix(b"\xef\xbb\xbf").split(b"\n")
    }
    largest = max(len(save.data) for save in h.saves)
    bound = 3 * (largest + sum(len(line) for line in distinct))
    assert packs + ops <= bound, (packs, ops, bound)
    # And far below keeping every file whole.
    assert packs + ops < sum(len(save.data) for save in h.saves) / 10


def test_list_pages_newest_first_with_stats(history: History) -> None:
    h = history
    whole = h.ok(f"/chats/{h.chat_id}/versions", limit=1000)
    assert whole["nextCursor"] is None
    items = whole["items"]
    assert [item["version"] for item in items] == list(range(len(h.saves), 0, -1))
    paged: list[dict[str, Any]] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": 7} | ({"cursor": cursor} if cursor else {})
        page = h.ok(f"/chats/{h.chat_id}/versions", **params)
        paged.extend(page["items"])
        cursor = page["nextCursor"]
        if cursor is None:
            break
    assert paged == items  # stats at page edges are computed against the right version
    by_version = {item["version"]: item for item in items}
    first = by_version[1]
    assert (first["added"], first["removed"], first["edited"]) == (30, 0, 0)
    assert first["messageCount"] == 30
    assert first["relPath"] == f"{SOLO}/versions.jsonl"
    checked = 0
    for number, save in enumerate(h.saves, start=1):
        item = by_version[number]
        assert item["size"] == len(save.data)
        if save.expected is not None:
            stats = (item["added"], item["removed"], item["edited"])
            assert stats == save.expected, (number, save.kind)
            checked += 1
    assert checked > SAVES - 20
    last = by_version[len(h.saves)]
    assert last["messageCount"] == 0
    assert last["shrunk"] is True
    assert last["removed"] == by_version[len(h.saves) - 1]["messageCount"] > 4
    assert sum(item["shrunk"] for item in items) == 1


def test_list_errors(history: History) -> None:
    h = history
    assert h.get(f"/chats/{h.chat_id}/versions", cursor="nope").status_code == 400
    assert h.get(f"/chats/{h.chat_id}/versions", limit=0).status_code == 400
    assert h.get("/chats/no-such-chat/versions").status_code == 404
    # Another user's chat is not there for them.
    assert h.get(f"/chats/{h.chat_id}/versions", as_user="alice").status_code == 404
    assert h.get(f"/chats/{h.chat_id}/versions", as_user="default-user").status_code == 200


def test_diff_of_an_edit(history: History) -> None:
    h = history
    number = next(
        n
        for n, save in enumerate(h.saves, start=1)
        if save.kind == "edit" and save.expected is not None
    )
    save = h.saves[number - 1]
    diff = h.ok(f"/chats/{h.chat_id}/versions/{number}/diff")
    assert diff["version"] == number
    assert diff["against"] == number - 1
    [change] = diff["changes"]
    assert change["kind"] == "changed"
    assert change["position"] == save.target
    assert change["before"]["text"] == save.text[0]
    assert change["after"]["text"] == save.text[1]
    assert change["after"]["namespaces"] == {"ext": {"s": number - 1}}
    assert change["after"]["name"] == "Seraphina"


def test_diff_kinds(history: History) -> None:
    h = history
    for kind, expected in (("delete", "removed"), ("top", "added"), ("append", "added")):
        number = next(
            n
            for n, save in enumerate(h.saves, start=1)
            if save.kind == kind and save.expected is not None
        )
        save = h.saves[number - 1]
        [change] = h.ok(f"/chats/{h.chat_id}/versions/{number}/diff")["changes"]
        assert change["kind"] == expected
        assert change["position"] == save.target
        if expected == "added":
            assert change["before"] is None
            assert change["after"]["text"] == save.text[1]
        else:
            assert change["after"] is None
            assert change["before"]["text"]
    # Version 1 against nothing: every message added, in order.
    first = h.ok(f"/chats/{h.chat_id}/versions/1/diff")
    assert first["against"] == 0
    assert [c["position"] for c in first["changes"]] == list(range(30))
    assert {c["kind"] for c in first["changes"]} == {"added"}
    # The shrink: every message removed; an explicit, older ``against`` works too.
    last = len(h.saves)
    shrink = h.ok(f"/chats/{h.chat_id}/versions/{last}/diff")
    assert {c["kind"] for c in shrink["changes"]} == {"removed"}
    assert (
        len(shrink["changes"]) == h.ok(f"/chats/{h.chat_id}/versions")["items"][1]["messageCount"]
    )
    span = h.ok(f"/chats/{h.chat_id}/versions/3/diff", against=1)
    assert span["against"] == 1
    assert span["changes"]


def test_version_404s(history: History) -> None:
    h = history
    base = f"/chats/{h.chat_id}/versions"
    for path in (f"{base}/999/file", f"{base}/0/file", f"{base}/999/diff", f"{base}/0/diff"):
        response = h.get(path)
        assert response.status_code == 404, path
        assert response.json()["error"]
    assert h.get(f"{base}/5/diff", against=999).status_code == 404
    assert h.get("/chats/nope/versions/1/file").status_code == 404
    assert h.get("/chats/nope/versions/1/diff").status_code == 404
    assert h.get(f"{base}/1/file", as_user="alice").status_code == 404
