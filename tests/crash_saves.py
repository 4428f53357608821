"""SillyTavern-style data roots and save bursts for the kill tests, all seeded.

:func:`small_root` writes a small data root (two users, solo chats with swipes, per-swipe
``extra`` namespaces, chat-level namespaces, a group chat, an odd namespace name).
:class:`SaveBurst` changes the chats of any data root the way SillyTavern does: every save writes
``<chat>.jsonl.<digits>``, fsyncs it and renames it over the chat; a rename is copy then delete
(a half-copied file can be seen); a delete is an unlink. Only the lines a save changes are
re-encoded, so the others stay byte-identical, as in SillyTavern.
"""

from __future__ import annotations

import json
import random
import shutil
import threading
from collections import Counter
from pathlib import Path
from typing import Any, ClassVar

from tests import handsoff
from tests.st_files import st_save

NAMESPACES = ("crash_ext", "qvink_memory", "odd.name space")
WORDS = (  # noqa: SIM905 - a word list reads better as text
    "the she they and with into over softly light shadow door rain fire blade voice hand eyes "
    "night castle forest road tavern letter memory dream whisper café naïve 字字 ещё — 😀"
).split()


def dumps(obj: Any) -> bytes:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def text(rng: random.Random, words: int) -> str:
    return " ".join(rng.choices(WORDS, k=words)).capitalize() + "."


def value(rng: random.Random) -> Any:
    """A JSON value of any type (strings that look like numbers included)."""
    kind = rng.randrange(8)
    if kind == 0:
        return rng.randint(-1000, 1000)
    if kind == 7:
        return rng.uniform(-10, 10)
    if kind == 1:
        return str(rng.randint(0, 99))
    if kind == 2:
        return rng.random() < 0.5
    if kind == 3:
        return None
    if kind == 4:
        return {"hp": rng.randint(0, 9), "tags": rng.sample(WORDS, 2)}
    return text(rng, rng.randint(2, 30))


def ns_data(rng: random.Random) -> dict[str, Any]:
    return {f"k{rng.randrange(4)}": value(rng) for _ in range(rng.randint(1, 3))}


def user_message(rng: random.Random) -> dict[str, Any]:
    return {"name": "User", "is_user": True, "is_system": False,
            "send_date": "2026-03-02T18:05:47.221Z", "mes": text(rng, rng.randint(5, 60)),
            "extra": {}}  # fmt: skip


def bot_message(rng: random.Random, name: str, size: int = 60) -> dict[str, Any]:
    count = rng.choice((1, 1, 2, 3))
    swipes = [text(rng, rng.randint(size // 3, size)) for _ in range(count)]
    extras = []
    for _ in range(count):
        extra: dict[str, Any] = {"api": "openai", "model": "gpt-4o"}
        for ns in NAMESPACES:
            if rng.random() < 0.5:
                extra[ns] = ns_data(rng)
        extras.append(extra)
    selected = rng.randrange(count)
    return {
        "name": name, "is_user": False, "is_system": False,
        "send_date": "2026-03-02T18:06:47.221Z", "mes": swipes[selected],
        "extra": dict(extras[selected]), "swipes": swipes, "swipe_id": selected,
        "swipe_info": [{"send_date": "2026-03-02T18:06:47.221Z", "extra": e} for e in extras],
    }  # fmt: skip


def chat_lines(rng: random.Random, name: str, messages: int, size: int = 60) -> list[bytes]:
    metadata: dict[str, Any] = {"integrity": f"int-{rng.getrandbits(32):08x}", "tainted": True}
    if rng.random() < 0.7:
        metadata["crash_ext"] = ns_data(rng)
    header = {"chat_metadata": metadata, "user_name": "unused", "character_name": "unused"}
    body = [
        bot_message(rng, name, size) if i % 2 == 0 else user_message(rng) for i in range(messages)
    ]
    return [dumps(header), *map(dumps, body)]


def small_root(root: Path, seed: int, chats: int = 8, messages: int = 40, size: int = 60) -> None:
    """A small data root: ``chats`` solo chats over two users, and one group chat."""
    rng = random.Random(seed)
    for index in range(chats):
        user = "default-user" if index % 3 else "alice"
        character = rng.choice(("Seraphina", "Aria", "Kael"))
        path = root / user / "chats" / character / f"{character} - chat {index}.jsonl"
        count = rng.randint(messages // 2, messages)
        st_save(path, b"\n".join(chat_lines(rng, character, count, size)))
    user_dir = root / "default-user"
    (user_dir / "groups").mkdir(parents=True, exist_ok=True)
    (user_dir / "groups" / "1746455179287.json").write_text(json.dumps({
        "id": "1746455179287", "name": "Party", "members": ["a.png", "b.png"],
        "chat_id": "party chat", "chats": ["party chat"],
    }))  # fmt: skip
    lines = chat_lines(rng, "A", messages)
    st_save(user_dir / "group chats" / "party chat.jsonl", b"\n".join(lines))


def chat_files(root: Path) -> list[Path]:
    found = [*root.glob("*/chats/*/*.jsonl"), *root.glob("*/group chats/*.jsonl")]
    return sorted(path for path in found if path.is_file())


class SaveBurst:
    """Random SillyTavern-style saves on the chats of ``root`` (see the module docstring)."""

    OPS: ClassVar[dict[str, float]] = {
        "extra": 6, "message": 4, "swipe": 3, "metadata": 1, "delete_message": 1,
        "rename": 0.6, "delete": 0.3, "new": 0.4,
    }  # fmt: skip

    def __init__(self, root: Path, seed: int, min_chats: int = 3) -> None:
        self.root = root
        self.rng = random.Random(seed)
        self.min_chats = min_chats
        self.live = chat_files(root)
        self.done: Counter[str] = Counter()
        self._serial = 0

    def run(self, stop: threading.Event, pause: tuple[float, float] = (0.01, 0.08)) -> None:
        """Save until ``stop`` is set, pausing a random moment between saves."""
        while not stop.wait(self.rng.uniform(*pause)):
            self.step()

    def step(self) -> str:
        op = self.rng.choices(list(self.OPS), weights=list(self.OPS.values()))[0]
        path = self.rng.choice(self.live)
        if op in ("delete", "rename") and len(self.live) <= self.min_chats:
            op = "extra"
        if op == "delete":
            path.unlink()
            handsoff.wrote(path)
            self.live.remove(path)
        elif op == "rename":
            self._serial += 1
            target = path.with_name(f"{path.stem} - renamed {self._serial}.jsonl")
            shutil.copyfile(path, target)  # SillyTavern: copyFileSync, then unlinkSync
            path.unlink()
            handsoff.wrote(target)
            handsoff.wrote(path)
            self.live[self.live.index(path)] = target
        elif op == "new":
            self._serial += 1
            target = path.with_name(f"new chat {self._serial}.jsonl")
            st_save(target, b"\n".join(chat_lines(self.rng, "Seraphina", self.rng.randint(2, 9))))
            self.live.append(target)
        else:
            self._edit(path, op)
        self.done[op] += 1
        return op

    def _edit(self, path: Path, op: str) -> None:
        lines = path.read_bytes().split(b"\n")
        header = 1 if lines and b'"chat_metadata"' in lines[0] else 0
        rng = self.rng
        if op == "metadata" and header:
            obj = json.loads(lines[0])
            obj["chat_metadata"]["crash_ext"] = ns_data(rng)
            lines[0] = dumps(obj)
        elif op == "message" or len(lines) <= header + 2:
            new = bot_message(rng, "Seraphina") if rng.random() < 0.6 else user_message(rng)
            lines.append(dumps(new))
        elif op == "delete_message":
            del lines[rng.randrange(header, len(lines))]
        elif op == "swipe":
            index = rng.randrange(header, len(lines))
            obj = json.loads(lines[index])
            if not isinstance(obj.get("swipes"), list) or obj.get("is_user"):
                obj = bot_message(rng, str(obj.get("name", "Seraphina")))
            swipe = {"api": "openai", "crash_ext": ns_data(rng)}
            obj["swipes"].append(text(rng, 20))
            obj.setdefault("swipe_info", []).append({"send_date": "x", "extra": swipe})
            obj["swipe_id"], obj["mes"], obj["extra"] = (
                len(obj["swipes"]) - 1,
                obj["swipes"][-1],
                swipe,
            )
            lines[index] = dumps(obj)
        else:  # extra: change one namespace of the selected swipe, mirrored into swipe_info
            index = rng.randrange(header, len(lines))
            obj = json.loads(lines[index])
            ns = rng.choice(NAMESPACES)
            data = ns_data(rng)
            extra = obj.setdefault("extra", {})
            extra[ns] = {**extra.get(ns, {}), **data} if isinstance(extra.get(ns), dict) else data
            info = obj.get("swipe_info")
            selected = obj.get("swipe_id", 0)
            if isinstance(info, list) and isinstance(selected, int) and 0 <= selected < len(info):
                info[selected] = {**(info[selected] or {}), "extra": extra}
            lines[index] = dumps(obj)
        st_save(path, b"\n".join(lines))
