"""Extension namespaces of parsed chat lines, per swipe, and the extension ids they map to."""

from __future__ import annotations

import hashlib
import random
from typing import Any

import pytest

from sidecar.ids import is_valid_id
from sidecar.sillytavern.messages import (
    BUILTIN_CHAT_METADATA_KEYS,
    BUILTIN_EXTRA_KEYS,
    NON_OBJECT_KEY,
    SILLYTAVERN_MESSAGE_KEYS,
    NamespaceValue,
    chat_namespaces,
    extension_id_for,
    message_info,
    message_namespaces,
)


def ns(namespaces: list[NamespaceValue]) -> list[tuple[int, bool, str, dict[str, Any]]]:
    return [(n.swipe, n.selected, n.namespace, n.data) for n in namespaces]


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
