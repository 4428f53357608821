"""SillyTavern's group definitions (``<user>/groups/*.json``): which group a group chat belongs to,
its name and members, and the chat metadata old header-less group chats keep there."""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

GROUPS_DIR = "groups"


@dataclass(frozen=True)
class GroupInfo:
    group_id: str
    name: str | None
    members: tuple[str, ...]
    chat_ids: tuple[str, ...]
    current_chat_id: str | None
    chat_metadata: dict[str, Any]  # for current_chat_id when it is an old header-less group chat


def load_groups(user_dir: Path) -> dict[str, GroupInfo]:
    """Read ``<user_dir>/groups/*.json`` keyed by group id; broken files are logged and skipped."""
    groups: dict[str, GroupInfo] = {}
    for entry in sorted(_entries(Path(user_dir) / GROUPS_DIR), key=lambda e: e.name):
        if not entry.name.endswith(".json") or not entry.is_file():
            continue
        try:
            with open(entry.path, encoding="utf-8-sig") as handle:
                data = json.load(handle)
        except (OSError, ValueError, RecursionError) as error:
            log.warning("Skipping unreadable group file %s: %s", entry.path, error)
            continue
        if not isinstance(data, dict):
            log.warning("Skipping group file %s: not a JSON object", entry.path)
            continue
        group_id = _text(data.get("id")) or entry.name[: -len(".json")]
        metadata = data.get("chat_metadata")
        groups.setdefault(
            group_id,
            GroupInfo(
                group_id=group_id,
                name=data["name"] if isinstance(data.get("name"), str) else None,
                members=_texts(data.get("members")),
                chat_ids=_texts(data.get("chats")),
                current_chat_id=_text(data.get("chat_id")),
                chat_metadata=metadata if isinstance(metadata, dict) else {},
            ),
        )
    return groups


def claims(groups: Mapping[str, GroupInfo]) -> dict[str, GroupInfo]:
    """Chat id -> group; a chat listed by several groups goes to the lowest group id."""
    claims: dict[str, GroupInfo] = {}
    for group_id in sorted(groups):
        group = groups[group_id]
        for chat_id in (*group.chat_ids, group.current_chat_id):
            if chat_id is not None:
                claims.setdefault(chat_id, group)
    return claims


def _entries(folder: Path) -> list[os.DirEntry[str]]:
    try:
        with os.scandir(folder) as entries:
            return list(entries)
    except OSError:
        return []


def _text(value: object) -> str | None:
    """Ids are strings in modern files and epoch-ms numbers in old ones."""
    if isinstance(value, str):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return None


def _texts(value: object) -> tuple[str, ...]:
    if not isinstance(value, list):
        return ()
    return tuple(t for t in map(_text, value) if t is not None)
