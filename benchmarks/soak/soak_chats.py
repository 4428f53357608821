"""The soak benchmark's chats: generated with ``chatgen``, edited and saved the way SillyTavern
does, and what sidecar must show for each of them once it has caught up.

Each chat is kept in memory as its decoded lines (header, then messages) and rewritten whole on
every save (temp file, fsync, rename: ``chatgen.save_like_sillytavern``), as SillyTavern does. An
edit is one of: change an extension's data in the selected swipe (``message.extra`` and its copy
in ``swipe_info``), change another swipe's data (``swipe_info[k].extra``), switch the selected
swipe, add a swipe (regenerate), append a message, delete the last message. Messages of the
generated file are never deleted, so positions below ``stable`` always exist (the load uses them).
"""

from __future__ import annotations

import random
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import chat_text
import chatgen
import msgspec

NAMESPACES = ("auto_recap_memory", "qvink_memory")
USERS = ("default-user", "alice", "bob")
EDITS = ("selected", "other_swipe", "switch", "regenerate", "append", "delete")
EDIT_WEIGHTS = (35, 15, 10, 10, 25, 5)
ENC = msgspec.json.Encoder()


@dataclass
class SoakChat:
    user: str
    character: str
    name: str
    path: Path
    gen: Any  # chatgen._Gen: keeps producing messages in the chat's style
    lines: list[dict[str, Any]]
    stable: int  # messages 0..stable-1 are never deleted
    with_data: list[int] = field(default_factory=list)  # stable positions with qvink_memory

    @property
    def messages(self) -> list[dict[str, Any]]:
        return self.lines[1:]

    def encode(self) -> bytes:
        return b"\n".join(ENC.encode(line) for line in self.lines)


def generate(root: Path, count: int, seed: int) -> list[SoakChat]:
    """``count`` chats of 40-120 messages over three users and eight characters."""
    rng = random.Random(seed)
    pool = chat_text.text_pool(
        seed, chars=min(1 << 21, max(1 << 17, count << 15))
    )  # a few s at full size
    chats = []
    for i in range(count):
        user, character = USERS[i % len(USERS)], chatgen.CHARACTERS[i % 8]
        n = rng.randint(40, 120)
        ns_rate, reasoning = rng.choice((0.6, 0.9, 1.0)), rng.random() < 0.3
        name = f"{character} - soak {i:03d}"
        spec = chatgen.ChatSpec(
            character, name, n, n * 3000, "ordinary", ns_rate, reasoning, (60, 25, 10, 5)
        )
        gen = chatgen._Gen(spec, seed * 100_003 + i, pool, chatgen.MIN_UNIT)
        lines = [msgspec.json.decode(line) for line in gen.lines(n)]
        path = root / user / "chats" / character / f"{spec.name}.jsonl"
        chat = SoakChat(user, character, spec.name, path, gen, lines, n)
        chat.with_data = [
            p for p, m in enumerate(chat.messages)
            if any("qvink_memory" in data for data in expected(m)[0].values())
        ]  # fmt: skip
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(chat.encode())
        chats.append(chat)
    return chats


def _copy(obj: dict[str, Any]) -> dict[str, Any]:
    """A deep copy (generated messages share objects between ``extra`` and ``swipe_info``)."""
    copied: dict[str, Any] = msgspec.json.decode(ENC.encode(obj))
    return copied


def _bots(chat: SoakChat, recent: int = 20) -> list[dict[str, Any]]:
    """Recent bot messages that carry extension data (so that every edit changes the file)."""
    return [
        m for m in chat.messages[-recent:]
        if not m["is_user"] and "swipes" in m and "qvink_memory" in m["extra"]
    ]  # fmt: skip


def _touch(extra: dict[str, Any], stamp: str) -> None:
    if "qvink_memory" in extra:
        extra["qvink_memory"]["memory"] = f"{extra['qvink_memory']['memory'][:200]} [{stamp}]"
    if "auto_recap_memory" in extra:
        extra["auto_recap_memory"]["scene_break"] = not extra["auto_recap_memory"]["scene_break"]


def _select(message: dict[str, Any], k: int) -> None:
    message["swipe_id"] = k
    message["mes"] = message["swipes"][k]
    message["extra"] = _copy(message["swipe_info"][k]["extra"])


def edit(chat: SoakChat, rng: random.Random, stamp: str) -> str:
    """Change the chat in memory the way a SillyTavern user or extension would; returns what."""
    kind = rng.choices(EDITS, weights=EDIT_WEIGHTS)[0]
    bots = _bots(chat)
    if kind == "delete" and len(chat.messages) <= chat.stable:
        kind = "append"
    if kind in ("selected", "other_swipe", "switch", "regenerate") and not bots:
        kind = "append"
    if kind == "selected":
        message = rng.choice(bots)
        _touch(message["extra"], stamp)  # the extension writes the selected swipe's extra...
        info = message["swipe_info"][message["swipe_id"]]
        info["extra"] = _copy(message["extra"])  # ...and SillyTavern mirrors it
    elif kind == "other_swipe":
        message = rng.choice(bots)
        others = [
            k for k in range(len(message["swipes"]))
            if k != message["swipe_id"] and "qvink_memory" in message["swipe_info"][k]["extra"]
        ]  # fmt: skip
        if not others:
            return edit(chat, rng, stamp)
        _touch(message["swipe_info"][rng.choice(others)]["extra"], stamp)
    elif kind == "switch":
        message = bots[-1]
        if len(message["swipes"]) < 2:
            return edit(chat, rng, stamp)
        _select(message, (message["swipe_id"] + 1) % len(message["swipes"]))
    elif kind == "regenerate":
        message, fresh = bots[-1], _copy(chat.gen.bot())
        message["swipes"].append(fresh["mes"])
        message["swipe_info"].append(fresh["swipe_info"][fresh["swipe_id"]])
        _select(message, len(message["swipes"]) - 1)
    elif kind == "append":
        last_is_user = chat.messages[-1]["is_user"] if chat.messages else False
        chat.lines.append(_copy(chat.gen.bot() if last_is_user else chat.gen.user()))
    else:
        chat.lines.pop()
    return kind


def save(chat: SoakChat) -> None:
    chatgen.save_like_sillytavern(chat.path, chat.encode())


def expected(message: dict[str, Any]) -> tuple[dict[int, dict[str, Any]], int]:
    """({swipe: {namespace: object}} for the swipes that have extension data, selected swipe):
    the selected swipe's data is ``message.extra``'s, the others' ``swipe_info[k].extra``'s."""
    selected = message.get("swipe_id", 0) if "swipes" in message else 0
    found: dict[int, dict[str, Any]] = {}
    sources = [(selected, message.get("extra") or {})]
    for k, info in enumerate(message.get("swipe_info") or [] if "swipes" in message else []):
        if k != selected and isinstance(info, dict):
            sources.append((k, info.get("extra") or {}))
    for swipe, extra in sources:
        data = {ns: extra[ns] for ns in NAMESPACES if ns in extra}
        if data:
            found[swipe] = data
    return found, selected


class Saver(threading.Thread):
    """Saves every chat once a second, staggered, until ``end``."""

    def __init__(self, chats: list[SoakChat], start: float, end: float, seed: int):
        super().__init__(name="saver", daemon=True)
        self.chats, self.start_at, self.end = chats, start, end
        self.rng = random.Random(seed)
        self.kinds: Counter[str] = Counter()
        self.per_chat: Counter[int] = Counter()
        self.made = 0
        self.scheduled = int((end - start) * len(chats))
        self.late_max = 0.0  # the worst delay of a save behind its schedule, seconds
        self.error: str | None = None

    def run(self) -> None:
        try:
            self._run()
        except Exception as exc:
            self.error = f"{type(exc).__name__}: {exc}"

    def _run(self) -> None:
        count = len(self.chats)
        for n in range(self.scheduled):
            due = self.start_at + n / count
            if (delay := due - time.monotonic()) > 0:
                time.sleep(delay)
            self.late_max = max(self.late_max, -delay)
            chat = self.chats[n % count]
            self.kinds[edit(chat, self.rng, f"save {n}")] += 1
            save(chat)
            self.per_chat[n % count] += 1
            self.made += 1
