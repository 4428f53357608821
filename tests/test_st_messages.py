"""Headers, messages, swipes and extension namespaces of parsed chat lines."""

from __future__ import annotations

import hashlib
import random
from datetime import UTC
from pathlib import Path
from typing import Any

import msgspec
import pytest

from sidecar.ids import is_valid_id
from sidecar.sillytavern.discovery import discover_chats
from sidecar.sillytavern.messages import (
    BUILTIN_CHAT_METADATA_KEYS,
    BUILTIN_EXTRA_KEYS,
    NON_OBJECT_KEY,
    SILLYTAVERN_MESSAGE_KEYS,
    HeaderInfo,
    NamespaceValue,
    chat_namespaces,
    extension_id_for,
    header_info,
    is_header,
    message_info,
    message_namespaces,
)

CORPUS = Path(__file__).resolve().parents[2] / "shared" / "sillytavern-chat-corpus"

HEADER_115 = {
    "chat_metadata": {"integrity": "9f1c"},
    "user_name": "unused",
    "character_name": "unused",
}
HEADER_114: dict[str, Any] = {
    "user_name": "希灵",
    "character_name": "Seraphina",
    "create_date": "2024-12-23@14h09m29s",
    "chat_metadata": {"note_prompt": "", "qvink_memory": {"on": True}},
}
HEADER_2023 = {"user_name": "You", "character_name": "Aqua", "create_date": 1674559896839}
OLD_GROUP_FIRST = {"name": "Speaker1", "is_user": False, "mes": "hi", "is_group": True}


def ns(namespaces: list[NamespaceValue]) -> list[tuple[int, bool, str, dict[str, Any]]]:
    return [(n.swipe, n.selected, n.namespace, n.data) for n in namespaces]


@pytest.mark.parametrize(
    ("obj", "expected"),
    [
        (HEADER_115, True),
        (HEADER_114, True),
        (HEADER_2023, True),
        ({"character_name": "Aqua"}, True),
        ({"chat_metadata": {}, "mes": ""}, True),
        (OLD_GROUP_FIRST, False),
        ({"user_name": "You", "mes": "hello"}, False),
        ({"name": "You", "mes": "hello"}, False),
        ({}, False),
        ([HEADER_115], False),
        ("chat_metadata", False),
        (None, False),
    ],
)
def test_is_header(obj: object, expected: bool) -> None:
    assert is_header(obj) is expected


def test_header_info_by_era() -> None:
    assert header_info(HEADER_115) == HeaderInfo(
        "unused", "unused", None, {"integrity": "9f1c"}, "9f1c"
    )
    assert header_info(HEADER_114) == HeaderInfo(
        "希灵", "Seraphina", "2024-12-23@14h09m29s", HEADER_114["chat_metadata"], None
    )
    assert header_info(HEADER_2023) == HeaderInfo("You", "Aqua", "1674559896839", {}, None)


def test_header_info_odd_types() -> None:
    odd = {"user_name": 5, "create_date": 1.5, "chat_metadata": ["x"]}
    assert header_info(odd) == HeaderInfo(None, None, "1.5", {}, None)
    bad_integrity = {"chat_metadata": {"integrity": 7}}
    assert header_info(bad_integrity).integrity is None
    assert header_info({"chat_metadata": None}).chat_metadata == {}


def test_message_info_modern() -> None:
    message = {
        "name": "Seraphina",
        "is_user": False,
        "is_system": False,
        "send_date": "2026-10-05T07:00:31.000Z",
        "mes": "Of course I did.",
        "extra": {"api": "openai", "model": "m", "token_count": 5, "qvink_memory": {"x": 1}},
        "swipes": ["a", "Of course I did.", "c"],
        "swipe_id": 1,
        "swipe_info": [{}, {}, {}],
    }
    info = message_info(message)
    assert info.name == "Seraphina"
    assert (info.is_user, info.is_system) == (False, False)
    assert info.send_date_raw == "2026-10-05T07:00:31.000Z"
    assert info.send_date == "2026-10-05T07:00:31.000Z"
    assert info.text == "Of course I did."
    assert (info.swipe_id, info.swipe_count) == (1, 3)
    assert info.builtin_extra == {"api": "openai", "model": "m", "token_count": 5}
    assert info.problems == ()


def test_message_info_legacy() -> None:
    message = {
        "name": "Aqua",
        "is_user": 1,
        "is_name": True,
        "send_date": 1674563371558,
        "mes": "x",
    }
    info = message_info(message, UTC)
    assert info.send_date_raw == "1674563371558"
    assert info.send_date == "2023-01-24T12:29:31.558Z"
    assert (info.is_user, info.is_system, info.swipe_id, info.swipe_count) == (True, False, 0, 0)
    assert info.builtin_extra == {}
    assert info.problems == ()
    local = message_info({"send_date": "June 19, 2023 2:20pm", "is_system": "yes"}, UTC)
    assert (local.send_date, local.is_system, local.text, local.name) == (
        "2023-06-19T14:20:00.000Z",
        True,
        None,
        None,
    )


@pytest.mark.parametrize(
    ("message", "swipe_id", "problems"),
    [
        ({"swipes": ["a", "b", "c"], "swipe_id": 7}, 0, ("swipe_id 7 is out of range (3 swipes)",)),
        ({"swipes": ["a", "b"], "swipe_id": -1}, 0, ("swipe_id -1 is out of range (2 swipes)",)),
        ({"swipes": ["a", "b"], "swipe_id": True}, 0, ("swipe_id true is not an integer",)),
        ({"swipes": ["a", "b"], "swipe_id": "1"}, 0, ("swipe_id 1 is not an integer",)),
        ({"swipes": ["a", "b"], "swipe_id": 1.5}, 0, ("swipe_id 1.5 is not an integer",)),
        ({"swipes": ["a", "b"], "swipe_id": 1.0}, 1, ()),  # JSON.parse: 1.0 is 1
        ({"swipe_id": 2}, 0, ("swipe_id 2 is out of range (0 swipes)",)),
        ({"swipe_id": 0}, 0, ()),
        ({"swipes": ["a", "b"], "swipe_id": None}, 0, ()),
        ({"swipes": "a", "swipe_id": 0}, 0, ("swipes is not a list",)),
        ({"swipes": ["a"], "swipe_info": {"0": {}}}, 0, ("swipe_info is not a list",)),
        ({"extra": "x"}, 0, ("extra is not an object",)),
        ({"extra": None, "swipes": None, "swipe_info": None}, 0, ()),
    ],
)
def test_message_info_problems(
    message: dict[str, Any], swipe_id: int, problems: tuple[str, ...]
) -> None:
    info = message_info(message)
    assert info.swipe_id == swipe_id
    assert info.problems == problems


def test_namespaces_without_swipes() -> None:
    message = {
        "mes": "hi",
        "extra": {"api": "x", "qvink_memory": {"include": True}, "WTracker": "text", "e": {}},
        "swipe_info": [{"extra": {"ignored": 1}}],  # no swipes: only message.extra counts
    }
    assert ns(message_namespaces(message)) == [
        (0, True, "WTracker", {NON_OBJECT_KEY: "text"}),
        (0, True, "e", {}),
        (0, True, "qvink_memory", {"include": True}),
    ]


def test_message_extra_wins_for_the_selected_swipe() -> None:
    message = {
        "extra": {"rec": {"v": 1}, "token_count": 3},
        "swipes": ["a", "b", "c", "d"],
        "swipe_id": 1,
        "swipe_info": [
            {"extra": {"rec": {"v": 0}, "api": "x"}},
            {"extra": {"rec": {"v": "stale"}, "only_in_swipe_info": 1}},
            None,
            {"extra": {"rec": [1, 2]}},
            {"extra": {"beyond": "swipes"}},  # longer than swipes: ignored
        ],
    }
    assert ns(message_namespaces(message)) == [
        (0, False, "rec", {"v": 0}),
        (1, True, "rec", {"v": 1}),
        (3, False, "rec", {NON_OBJECT_KEY: [1, 2]}),
    ]


@pytest.mark.parametrize(
    "swipe_info",
    [
        [{"extra": {"rec": {"v": 0}}}],  # shorter than swipes
        [{"extra": {"rec": {"v": 0}}}, None, None],
        [{"extra": {"rec": {"v": 0}}}, {"extra": "x"}, {"extra": ["rec"]}],
        [{"extra": {"rec": {"v": 0}}}, "x", {"send_date": "no extra"}],
    ],
)
def test_swipe_info_gaps(swipe_info: list[Any]) -> None:
    message = {"extra": {"rec": {"v": 2}}, "swipes": ["a", "b", "c"], "swipe_id": 2}
    message["swipe_info"] = swipe_info
    assert ns(message_namespaces(message)) == [
        (0, False, "rec", {"v": 0}),
        (2, True, "rec", {"v": 2}),
    ]


@pytest.mark.parametrize("swipe_id", [7, -1, True, "1", None])
def test_invalid_swipe_id_selects_swipe_zero(swipe_id: object) -> None:
    message = {
        "extra": {"rec": {"v": "msg"}},
        "swipes": ["a", "b"],
        "swipe_id": swipe_id,
        "swipe_info": [{"extra": {"rec": {"v": 0}}}, {"extra": {"rec": {"v": 1}}}],
    }
    assert ns(message_namespaces(message)) == [
        (0, True, "rec", {"v": "msg"}),
        (1, False, "rec", {"v": 1}),
    ]


def test_top_level_fields() -> None:
    message = {
        "extra": {},
        "tracker": {"mood": "calm"},
        "variables": [{"a": 1}],
        "swipes": ["a", "b"],
        "swipe_id": 1,
    }
    # By default every top-level field that is not SillyTavern's own is a namespace.
    assert ns(message_namespaces(message)) == [
        (1, True, "tracker", {"mood": "calm"}),
        (1, True, "variables", {NON_OBJECT_KEY: [{"a": 1}]}),
    ]
    # An explicit list: exactly those.
    assert ns(message_namespaces(message, ("tracker", "absent"))) == [
        (1, True, "tracker", {"mood": "calm"})
    ]
    assert message_namespaces(message, ()) == []
    assert message_namespaces({"tracker": None}) == []
    assert ns(message_namespaces({"tracker": "x", "extra": {"tracker": {"in": "extra"}}})) == [
        (0, True, "tracker", {"in": "extra"})
    ]


def test_sillytavern_message_keys_are_never_namespaces() -> None:
    """Every key SillyTavern itself writes on a message (or a header read as one), any era."""
    message: dict[str, Any] = dict.fromkeys(SILLYTAVERN_MESSAGE_KEYS, "x")
    message |= {"swipes": ["a"], "swipe_id": 0, "extra": {}, "swipe_info": [], "mine": {"k": 1}}
    assert ns(message_namespaces(message)) == [(0, True, "mine", {"k": 1})]
    for key in (
        "mes",
        "is_name",
        "is_group",
        "force_avatar",
        "gen_started",
        "title",
        "create_date",
    ):
        assert key in SILLYTAVERN_MESSAGE_KEYS


def test_builtin_keys_are_not_namespaces() -> None:
    extra = dict.fromkeys(BUILTIN_EXTRA_KEYS, 1)
    message = {
        "extra": extra,
        "swipes": ["a", "b"],
        "swipe_info": [{"extra": extra}, {"extra": extra}],
    }
    assert message_namespaces(message) == []
    assert message_info(message).builtin_extra == extra
    assert {
        "reasoning",
        "time_to_first_token",
        "bias",
        "gen_id",
        "isSmallSys",
    } <= BUILTIN_EXTRA_KEYS


def test_chat_namespaces() -> None:
    metadata = {
        "integrity": "u",
        "chat_id_hash": 1,
        "note_prompt": "",
        "variables": {"a": 1},
        "qvink_memory": {"x": 1},
        "flag": True,
        "list": [1],
    }
    assert chat_namespaces(metadata) == {
        "qvink_memory": {"x": 1},
        "flag": {NON_OBJECT_KEY: True},
        "list": {NON_OBJECT_KEY: [1]},
    }
    assert chat_namespaces(dict.fromkeys(BUILTIN_CHAT_METADATA_KEYS, 1)) == {}


def test_never_raises_on_wrong_types() -> None:
    rng = random.Random(7)
    values: list[Any] = [
        None,
        True,
        0,
        -3,
        2,
        1.5,
        "",
        "x",
        [],
        [None],
        {},
        {"a": 1},
        [{"extra": 1}],
    ]
    keys = [
        "extra",
        "swipes",
        "swipe_id",
        "swipe_info",
        "send_date",
        "mes",
        "name",
        "is_user",
        "tracker",
    ]
    for _ in range(3000):
        message = {k: rng.choice(values) for k in rng.sample(keys, rng.randint(0, len(keys)))}
        if rng.random() < 0.3:
            message["swipe_info"] = [
                rng.choice([*values, {"extra": rng.choice(values)}]) for _ in "abc"
            ]
        info = message_info(message)
        assert info.swipe_id >= 0
        for value in message_namespaces(message):
            assert isinstance(value.data, dict)
        header_info(message)
        chat_namespaces(message)
    odd_inputs: list[Any] = [None, [], "x", 3]
    for not_a_dict in odd_inputs:
        assert message_namespaces(not_a_dict) == []
        assert message_info(not_a_dict).problems == ()
        assert header_info(not_a_dict).chat_metadata == {}
        assert chat_namespaces(not_a_dict) == {}


@pytest.mark.parametrize(
    "name", ["qvink_memory", "STMemoryBooks", "WTracker", "a", "x-y_z", "a" * 128]
)
def test_extension_id_for_valid_ids(name: str) -> None:
    assert extension_id_for(name) == name


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("", "ns__e3b0c442"),
        ("../x", "ns____x_d6b96a97"),
        ("a.b", "ns_a_b_2e7336dc"),
        ("a b", "ns_a_b_c8687a08"),
        ("字", "ns___c55038b2"),
    ],
)
def test_extension_id_for_mapped(name: str, expected: str) -> None:
    assert extension_id_for(name) == expected
    assert expected.endswith(hashlib.sha256(name.encode()).hexdigest()[:8])


def test_extension_id_for_property() -> None:
    rng = random.Random(99)
    pool = "abcXYZ019_-./ \\:*?字😀\n\x00\ud800é"
    seen: dict[str, str] = {}
    samples = ["a" * 129, "x" * 500, "字" * 500, "\ud800", "a\n"]
    samples += ["".join(rng.choice(pool) for _ in range(rng.randint(0, 300))) for _ in range(2000)]
    for name in samples:
        result = extension_id_for(name)
        assert is_valid_id(result)
        assert len(result) <= 128
        assert extension_id_for(name) == result
        assert result == name or result.startswith("ns_")
        assert seen.setdefault(result, name) == name  # no collisions among the samples
    assert len(extension_id_for("x" * 500)) == 128


def corpus_lines(path: Path) -> list[Any]:
    return [msgspec.json.decode(line) for line in path.read_bytes().split(b"\n")]


@pytest.mark.corpus
@pytest.mark.skipif(not CORPUS.is_dir(), reason="chat corpus not present")
def test_corpus_lines() -> None:
    checked = 0
    for folder in (d for d in sorted(CORPUS.iterdir()) if d.is_dir()):
        for chat in discover_chats(folder):
            lines = corpus_lines(chat.path)
            assert is_header(lines[0]) is (chat.kind == "solo")  # 06 is a header-less group chat
            for obj in lines[1 if chat.kind == "solo" else 0 :]:
                assert not is_header(obj)
                info = message_info(obj, UTC)
                assert info.problems == ()
                assert info.send_date is not None
                message_namespaces(obj, ("tracker", "hash_sheets"))
                checked += 1
    assert checked == 1 + 3 + 1 + (3 + 3 + 2) + 4 + 5 + 37

    [basic] = CORPUS.glob("05_*/default-user/chats/default_Seraphina/fixture-basic.jsonl")
    lines = corpus_lines(basic)
    assert header_info(lines[0]) == HeaderInfo("unused", "unused", None, {}, None)
    assert (message_info(lines[3]).swipe_id, message_info(lines[3]).swipe_count) == (1, 3)

    [group] = CORPUS.glob("06_*/default-user/group chats/*.jsonl")
    first = corpus_lines(group)[0]
    assert is_header(first) is False
    assert message_info(first, UTC).send_date == "2025-05-05T22:20:00.000Z"

    [legacy] = CORPUS.glob("01_*/chats/Aqua/*.jsonl")
    assert header_info(corpus_lines(legacy)[0]).create_date == "1674559896839"

    [branch] = CORPUS.glob("08_*/default-user/chats/Character2/*.jsonl")
    lines = corpus_lines(branch)
    header = header_info(lines[0])
    assert header.chat_metadata["main_chat"]
    assert set(chat_namespaces(header.chat_metadata)) == {"sheets", "selected_sheets"}
    first_reply = message_info(lines[1])
    assert (first_reply.swipe_id, first_reply.swipe_count) == (2, 9)  # swipe_info is []
    # Extensions' top-level fields are namespaces by default; SillyTavern's own keys never are.
    assert [n.namespace for n in message_namespaces(lines[1])] == [
        "hash_sheets",
        "is_ejs_processed",
        "tableEditMatches",
        "variables",
    ]
    assert [n.namespace for n in message_namespaces(lines[1], ("hash_sheets",))] == ["hash_sheets"]
    assert message_namespaces(lines[1], ()) == []

    [backup] = CORPUS.glob("04_*/default-user/backups/*.jsonl")
    header = header_info(corpus_lines(backup)[0])
    assert header.integrity == "6f8b416d-d4d4-42a3-baa7-63a7cdc053a4"
