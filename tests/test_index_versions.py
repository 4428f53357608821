"""Every indexed version of a chat rebuilds byte for byte; storage grows with what changed."""

from __future__ import annotations

import random
from pathlib import Path

from sidecar.indexer.rebuild import rebuild_version
from sidecar.indexer.versions import FULL_EVERY
from tests.index_harness import Harness
from tests.st_files import SOLO, encode, header, message, st_save


def test_every_version_rebuilds_exactly(tmp_path: Path) -> None:
    h = Harness(tmp_path / "st", tmp_path / "db")
    rng = random.Random(7)
    path = h.root / SOLO / "versions.jsonl"
    chat: list[object] = [header(integrity="v")] + [
        message(f"m{i}", extra={"ext": {"n": i}}) for i in range(30)
    ]
    saved: list[bytes] = []
    try:
        for save in range(FULL_EVERY + 20):  # crosses a full-list boundary of the delta chain
            kind = rng.choice(["edit", "insert", "delete", "append"])
            if kind == "edit":
                chat[rng.randrange(1, len(chat))] = message(
                    f"edit {save}", extra={"ext": {"s": save}}
                )
            elif kind == "insert":
                chat.insert(rng.randrange(1, len(chat) + 1), message(f"new {save}"))
            elif kind == "delete" and len(chat) > 2:
                del chat[rng.randrange(1, len(chat))]
            else:
                chat.append(message(f"tail {save}"))
            framing = {"bom": save % 7 == 0, "newline": "\r\n" if save % 5 == 0 else "\n",
                       "trailing": save % 3 == 0}  # fmt: skip
            body = chat + (["", "{not json"] if save % 11 == 0 else [])
            data = encode(body, **framing)  # type: ignore[arg-type]
            st_save(path, data)
            saved.append(data)
            assert h.index(path).status in ("new", "updated")
        # A final shrink to the header alone, then back to one message.
        for data in (encode([chat[0]]), encode([chat[0], message("again")])):
            st_save(path, data)
            saved.append(data)
            h.index(path)
        chat_id = h.chat_id(f"{SOLO}/versions.jsonl")
        with h.catalog.read() as conn:
            for number, expected in enumerate(saved, start=1):
                assert rebuild_version(conn, h.line_store, chat_id, number) == expected, number
        stored = sum(p.stat().st_size for p in (h.db_dir / "lines").iterdir())
        distinct_lines = {
            line for data in saved for line in data.removeprefix(b"\xef\xbb\xbf").split(b"\n")
        }
        # Each distinct line is stored once: the store holds at most those bytes.
        assert stored <= sum(len(line) for line in distinct_lines)
        deltas = h.catalog_rows("SELECT length(ops) FROM versions WHERE base_version IS NOT NULL")
        assert deltas
        assert max(size for (size,) in deltas) < 200  # a save's delta is small
    finally:
        h.close()
