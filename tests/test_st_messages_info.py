"""Headers and message info (dates, swipes, problems) of chat lines; odd types never raise."""

from __future__ import annotations

import random
from datetime import UTC
from typing import Any

import pytest

from sidecar.sillytavern.messages import (
    HeaderInfo,
    chat_namespaces,
    header_info,
    is_header,
    message_info,
    message_namespaces,
)

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
