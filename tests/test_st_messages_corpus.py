"""Every line of the real chat corpus parses: headers, message info and namespaces."""

from __future__ import annotations

from datetime import UTC
from pathlib import Path
from typing import Any

import msgspec
import pytest

from sidecar.sillytavern.discovery import discover_chats
from sidecar.sillytavern.messages import (
    HeaderInfo,
    chat_namespaces,
    header_info,
    is_header,
    message_info,
    message_namespaces,
)

CORPUS = Path(__file__).resolve().parents[2] / "shared" / "sillytavern-chat-corpus"


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
