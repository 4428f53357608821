"""Indexing every era and oddity of SillyTavern's chat files, with the exact rows expected."""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from sidecar.sillytavern.messages import extension_id_for
from tests.index_harness import Harness
from tests.st_files import SOLO, encode, header, message, st_save, swiped


@pytest.fixture(autouse=True)
def _utc(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Local-time send_date formats are read in the local zone: pin it."""
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def messages_of(h: Harness, chat_id: str) -> list[tuple[object, ...]]:
    return h.catalog_rows(
        "SELECT position, line_no, name, is_user, send_date_raw, send_date, text, swipe_id, "
        "swipe_count FROM messages WHERE chat_id = ? ORDER BY position",
        chat_id,
    )


def test_2023_header_and_epoch_dates(h: Harness) -> None:
    path = h.root / "chats" / "Aqua" / "1673181146000.jsonl"  # a legacy root: chats/ directly
    st_save(path, [
        {"user_name": "You", "character_name": "Aqua", "create_date": 1674559896839},
        {"name": "Aqua", "is_user": False, "is_name": True, "send_date": 1673181146000,
         "mes": "Hi!"},
    ])  # fmt: skip
    result = h.index(path)
    assert (result.status, result.messages, result.problems) == ("new", 1, [])
    chat_id = h.chat_id("chats/Aqua/1673181146000.jsonl")
    assert h.catalog_rows(
        "SELECT user, kind, character, file_name, user_name, character_name, create_date, "
        "header_line, integrity FROM chats"
    ) == [("default-user", "solo", "Aqua", "1673181146000", "You", "Aqua", "1674559896839", 0,
           None)]  # fmt: skip
    assert messages_of(h, chat_id) == [
        (0, 2, "Aqua", 0, "1673181146000", "2023-01-08T12:32:26.000Z", "Hi!", 0, 0)
    ]


def test_1_14_header_humanized_dates_and_chat_level_data(h: Harness) -> None:
    path = h.root / SOLO / "Seraphina - 2023-5-12 @21h 32m 29s 224ms.jsonl"
    st_save(path, [
        {"user_name": "Ann", "character_name": "Seraphina", "create_date": "2024-12-23@14h09m29s",
         "chat_metadata": {"integrity": "0c9d-uuid", "note_prompt": "", "qvink_memory":
                           {"enabled": True, "lagging": 3}, "chat_id_hash": 123}},
        message("Hello", send_date="2023-4-21 @20h 02m 47s 124ms"),
        message("Hi", name="Ann", is_user=True, send_date="June 19, 2023 2:20pm"),
        message("?", send_date="not a date"),
    ])  # fmt: skip
    h.index(path)
    chat_id = h.chat_id(f"{SOLO}/Seraphina - 2023-5-12 @21h 32m 29s 224ms.jsonl")
    assert messages_of(h, chat_id) == [
        (0, 2, "Seraphina", 0, "2023-4-21 @20h 02m 47s 124ms", "2023-04-21T20:02:47.124Z",
         "Hello", 0, 0),
        (1, 3, "Ann", 1, "June 19, 2023 2:20pm", "2023-06-19T14:20:00.000Z", "Hi", 0, 0),
        (2, 4, "Seraphina", 0, "not a date", None, "?", 0, 0),
    ]  # fmt: skip
    assert h.catalog_rows("SELECT user_name, integrity FROM chats") == [("Ann", "0c9d-uuid")]
    assert h.query("qvink_memory.db", "SELECT namespace, key, value FROM chat_data") == [
        ("qvink_memory", "enabled", "true"),
        ("qvink_memory", "lagging", "3"),
    ]


def test_modern_swipes_go_to_each_extension_per_swipe(h: Harness) -> None:
    path = h.root / SOLO / "modern.jsonl"
    st_save(path, [
        header(integrity="abc"),
        message("hi", name="User", is_user=True),
        swiped(
            ["one", "two", "three"], 1,
            [None,
             {"api": "openai", "qvink_memory": {"memory": "two", "lagging": False},
              "auto_recap_memory": {"scene_break": True}},
             {"qvink_memory": {"memory": "three"}, "token_count": 5}],
            tracker={"mood": "calm"},
        ),
    ])  # fmt: skip
    h.index(path)
    chat_id = h.chat_id(f"{SOLO}/modern.jsonl")
    assert h.data("qvink_memory", chat_id) == [
        (1, 1, "qvink_memory", "lagging", "false", 1),
        (1, 1, "qvink_memory", "memory", '"two"', 1),
        (1, 2, "qvink_memory", "memory", '"three"', 0),
    ]
    assert h.data("auto_recap_memory", chat_id) == [
        (1, 1, "auto_recap_memory", "scene_break", "true", 1)
    ]
    assert h.data("tracker", chat_id) == [(1, 1, "tracker", "mood", '"calm"', 1)]
    assert h.catalog_rows(
        "SELECT position, swipe_id, swipe_count, builtin_extra, namespaces FROM messages "
        "ORDER BY position"
    ) == [
        (0, 0, 0, None, "[]"),
        (1, 1, 3, '{"api":"openai"}', '["auto_recap_memory","qvink_memory","tracker"]'),
    ]
    assert not (h.db_dir / "api.db").exists()  # built-in keys stay in the catalog


def test_selected_swipe_uses_message_extra_even_when_swipe_info_differs(h: Harness) -> None:
    path = h.root / SOLO / "disagree.jsonl"
    msg = swiped(["a", "b"], 0, [{"ext": {"v": "stale"}}, {"ext": {"v": "b"}}])
    msg["extra"] = {"ext": {"v": "fresh"}}
    st_save(path, [header(), msg])
    h.index(path)
    chat_id = h.chat_id(f"{SOLO}/disagree.jsonl")
    assert h.data("ext", chat_id) == [
        (0, 0, "ext", "v", '"fresh"', 1),
        (0, 1, "ext", "v", '"b"', 0),
    ]


def test_odd_namespaces(h: Harness) -> None:
    path = h.root / SOLO / "odd.jsonl"
    st_save(path, [header(), message("x", extra={"plain": "a string", "listy": [1, 2],
                                                 "my.ext v2": {"k": 1}})])  # fmt: skip
    h.index(path)
    chat_id = h.chat_id(f"{SOLO}/odd.jsonl")
    assert h.data("plain", chat_id) == [(0, 0, "plain", "$value", '"a string"', 1)]
    assert h.data("listy", chat_id) == [(0, 0, "listy", "$value", "[1,2]", 1)]
    safe = extension_id_for("my.ext v2")
    assert safe.startswith("ns_my_ext_v2_")
    assert h.data(safe, chat_id) == [(0, 0, "my.ext v2", "k", "1", 1)]


def test_old_group_chat_without_header(h: Harness) -> None:
    user = h.root / "default-user"
    (user / "groups").mkdir(parents=True)
    (user / "groups" / "1746455179287.json").write_text(json.dumps({
        "id": "1746455179287", "name": "Party", "members": ["a.png", "b.png"],
        "chat_id": "2025-05-05@22h26m18s", "chats": ["2025-05-05@22h26m18s"],
        "chat_metadata": {"integrity": "grp-uuid", "party_ext": {"round": 2}},
    }))  # fmt: skip
    path = user / "group chats" / "2025-05-05@22h26m18s.jsonl"
    st_save(path, [
        message("first", name="A", is_group=True, send_date="May 5, 2025 10:20pm"),
        message("second", name="B", extra={"party_ext": {"hp": 3}}),
    ])  # fmt: skip
    h.index(path)
    assert h.catalog_rows(
        "SELECT kind, character, group_id, group_name, group_members, header_line, integrity, "
        "message_count FROM chats"
    ) == [("group", None, "1746455179287", "Party", '["a.png","b.png"]', None, "grp-uuid", 2)]
    chat_id = h.chat_id("default-user/group chats/2025-05-05@22h26m18s.jsonl")
    assert h.data("party_ext", chat_id) == [(1, 0, "party_ext", "hp", "3", 1)]
    assert h.query("party_ext.db", "SELECT key, value FROM chat_data") == [("round", "2")]


def test_bom_crlf_blank_and_bad_lines_are_reported_and_the_rest_indexed(h: Harness) -> None:
    path = h.root / SOLO / "imported.jsonl"
    lines = [
        header(),
        message("one", extra={"ext": {"n": 1}}),
        "",
        '{"name": "broken", "mes": ',
        "[1, 2]",
        message("two", extra={"ext": {"n": 2}}),
        "   ",
        "NaN",
    ]
    st_save(path, encode(lines, bom=True, newline="\r\n", trailing=True))
    result = h.index(path)
    chat_id = h.chat_id(f"{SOLO}/imported.jsonl")
    assert [line for line, _ in result.problems] == [4, 5, 8]
    reasons = dict(result.problems)
    assert reasons[4].startswith("invalid JSON")
    assert reasons[5] == "not a JSON object but an array"
    assert h.catalog_rows("SELECT line_no, reason FROM problems") == sorted(result.problems)
    assert [row[:3] for row in messages_of(h, chat_id)] == [
        (0, 2, "Seraphina"),
        (1, 6, "Seraphina"),
    ]
    assert h.data("ext", chat_id) == [(0, 0, "ext", "n", "1", 1), (1, 0, "ext", "n", "2", 1)]
    assert h.catalog_rows("SELECT bom, trailing_newline FROM chats") == [(1, 1)]


def test_discovery_scope_and_files_stay_byte_identical(h: Harness) -> None:
    user = h.root / "default-user"
    st_save(user / "chats" / "loose.jsonl", [header(), message("loose")])
    st_save(user / "chats" / "Bob" / "c.jsonl", [header(), message("in folder")])
    st_save(user / "backups" / "chat_bob_20250101-000000.jsonl", [header(), message("b")])
    (user / "chats" / "Bob" / "c.jsonl.1700000000123").write_bytes(b"{partial")
    (user / "chats" / "_hidden").mkdir()
    st_save(user / "chats" / "_hidden" / "x.jsonl", [header(), message("no")])
    st_save(h.root / "other-user" / "chats" / "Eve" / "e.jsonl", [message("eve")])
    before = {p: (hashlib.sha256(p.read_bytes()).hexdigest(), p.stat().st_mtime_ns)
              for p in h.root.rglob("*") if p.is_file()}  # fmt: skip
    summary = h.scan()
    assert sorted(h.catalog_rows("SELECT rel_path, user, character, message_count FROM chats")) == [
        ("default-user/chats/Bob/c.jsonl", "default-user", "Bob", 1),
        ("default-user/chats/loose.jsonl", "default-user", None, 1),
        ("other-user/chats/Eve/e.jsonl", "other-user", "Eve", 1),
    ]
    assert summary.statuses == {"new": 3}
    after = {p: (hashlib.sha256(p.read_bytes()).hexdigest(), p.stat().st_mtime_ns)
             for p in h.root.rglob("*") if p.is_file()}  # fmt: skip
    assert after == before
    assert not any(name.endswith(".db") for name in os.listdir(h.root))


def test_namespace_filter_and_map(tmp_path: Path) -> None:
    h = Harness(tmp_path / "st", tmp_path / "db", exclude_namespaces=["secret"],
                namespace_map={"qvink_memory": "memory-ext"})  # fmt: skip
    try:
        path = h.root / SOLO / "c.jsonl"
        st_save(path, [header(), message("x", extra={"secret": {"a": 1},
                                                     "qvink_memory": {"m": "x"}})])  # fmt: skip
        h.index(path)
        chat_id = h.chat_id(f"{SOLO}/c.jsonl")
        assert h.data("memory-ext", chat_id) == [(0, 0, "qvink_memory", "m", '"x"', 1)]
        assert not (h.db_dir / "secret.db").exists()
        assert not (h.db_dir / "qvink_memory.db").exists()
    finally:
        h.close()
