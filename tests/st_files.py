"""Builders for SillyTavern chat files and data roots, written the way SillyTavern writes them."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from tests import handsoff

SOLO = "default-user/chats/Seraphina"


def header(**metadata: Any) -> dict[str, Any]:
    """A 1.15+ header."""
    return {"chat_metadata": metadata, "user_name": "unused", "character_name": "unused"}


def message(
    mes: str,
    *,
    name: str = "Seraphina",
    is_user: bool = False,
    extra: dict[str, Any] | None = None,
    send_date: object = "2026-03-02T18:05:47.221Z",
    **fields: Any,
) -> dict[str, Any]:
    obj: dict[str, Any] = {
        "name": name,
        "is_user": is_user,
        "is_system": False,
        "send_date": send_date,
        "mes": mes,
        "extra": extra if extra is not None else {},
    }
    obj.update(fields)
    return obj


def swiped(
    texts: list[str], selected: int, extras: list[dict[str, Any] | None], **kwargs: Any
) -> dict[str, Any]:
    """A bot message with swipes; ``extras[k]`` is swipe k's extra (the selected one is also
    ``message.extra``)."""
    info = [
        {"send_date": "2026-03-02T18:05:47.221Z", "extra": e} if e is not None else None
        for e in extras
    ]
    return message(
        texts[selected],
        extra=extras[selected] or {},
        swipes=texts,
        swipe_id=selected,
        swipe_info=info,
        **kwargs,
    )


def dumps(obj: object) -> str:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"))


def encode(
    objs: list[Any], *, bom: bool = False, newline: str = "\n", trailing: bool = False
) -> bytes:
    text = newline.join(obj if isinstance(obj, str) else dumps(obj) for obj in objs)
    data = text.encode("utf-8") + (newline.encode() if trailing else b"")
    return (b"\xef\xbb\xbf" if bom else b"") + data


def st_save(path: Path, data: bytes | list[Any], counter: list[int] = [0]) -> None:  # noqa: B006
    """Save like SillyTavern: write ``<chat>.jsonl.<digits>``, fsync, rename over the chat."""
    payload = data if isinstance(data, bytes) else encode(data)
    path.parent.mkdir(parents=True, exist_ok=True)
    counter[0] += 1
    temp = path.with_name(f"{path.name}.{1700000000000 + counter[0]}")
    with open(temp, "wb") as handle:
        handle.write(payload)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temp, path)
    handsoff.wrote(path)
