"""Deterministic generator of a realistic SillyTavern data root, for benchmarks.

Writes ``<root>/default-user/chats/<Character>/<chat name>.jsonl`` in the 1.15+ format (see
``../shared/spec/sillytavern-format.md``): a header line ``{"chat_metadata":{"integrity":...},
"user_name":"unused","character_name":"unused"}``, then one compact JSON message per line, joined
with ``\\n`` and no trailing newline. Bot messages have 1-4 swipes with a parallel ``swipe_info``;
their ``extra`` holds SillyTavern built-ins (api, model, token_count, reasoning) and two
extension namespaces shaped like real ones, ``auto_recap_memory`` and ``qvink_memory``;
``swipe_info[k].extra`` holds per-swipe copies (other swipes' data differs; swipe 0 often lacks
the namespaces, as the real extensions' mirroring bug leaves it).

Corpus at ``scale=1``: 198 ordinary chats (200-2,000 messages, 0.5-3 MB), one heavy chat (2,500
messages, ~20 MB, swipes and both namespaces on every bot message) and one big chat (2,300
messages, ~100 MB, ~45 KB/message): about 400 MB. ``scale`` multiplies the number of ordinary chats
and the message counts of the heavy and big chats, so the total shrinks proportionally while
message shapes stay the same. The same seed always gives the same bytes.

Run alone:  python benchmarks/chatgen.py OUT_DIR [--scale 1.0] [--seed 1] [--skip-big]
"""

from __future__ import annotations

import argparse
import math
import random
import sys
import uuid
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import msgspec
from chat_text import text_pool

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:  # benchmarks run as scripts; the tests/ helpers are in the repo
    sys.path.insert(0, str(REPO))

from tests.st_files import st_save  # noqa: E402

CHARACTERS = (
    "Seraphina", "default_Seraphina", "Aria", "Kael", "Lyra Moonwhisper", "Captain Reyes",
    "Élodie", "纪长昼", "Nyx", "Professor Hale", "Mira (v2)", "Orin", "Sable", "Tomoe", "Vex",
    "Wren", "Yuki-onna", "Zephyr", "The Narrator", "Dungeon Master",
)  # fmt: skip
MODELS = ("gpt-4o", "claude-sonnet-4-5", "gemini-2.5-pro", "deepseek-reasoner", "glm-4.6")
ENC = msgspec.json.Encoder()
MIN_UNIT = 400.0  # characters: user messages 40-240, bot swipes 200-600 at the least
MIN_MESSAGES = 200


@dataclass(frozen=True)
class ChatSpec:
    character: str
    name: str
    messages: int
    target_bytes: int
    role: str  # ordinary | heavy | big
    ns_rate: float  # share of bot messages carrying the two extension namespaces
    reasoning: bool
    swipe_weights: tuple[int, int, int, int]  # weights of 1, 2, 3, 4 swipes


@dataclass(frozen=True)
class GeneratedChat:
    spec: ChatSpec
    path: Path
    size: int


@dataclass(frozen=True)
class Corpus:
    root: Path
    chats: list[GeneratedChat]

    @property
    def total_bytes(self) -> int:
        return sum(chat.size for chat in self.chats)

    def role(self, role: str) -> GeneratedChat | None:
        return next((chat for chat in self.chats if chat.spec.role == role), None)


class _Gen:
    """Builds the messages of one chat; ``unit`` (characters) scales every text length."""

    def __init__(self, spec: ChatSpec, seed: int, pool: str, unit: float) -> None:
        self.spec, self.pool, self.unit = spec, pool, unit
        self.rng = random.Random(seed)
        self.clock = datetime(2026, 1, 1, tzinfo=UTC) + timedelta(days=self.rng.randint(0, 120))
        self.model = self.rng.choice(MODELS)

    def text(self, chars: float) -> str:
        n = max(1, min(int(chars), len(self.pool) - 1))
        start = self.rng.randrange(len(self.pool) - n)
        return self.pool[start : start + n]

    def scaled(self, low: float, high: float) -> str:
        return self.text(self.unit * self.rng.uniform(low, high))

    def stamp(self, seconds: float) -> str:
        self.clock += timedelta(seconds=seconds)
        return self.clock.isoformat(timespec="milliseconds").replace("+00:00", "Z")

    def header(self) -> dict[str, Any]:
        integrity = str(uuid.UUID(int=self.rng.getrandbits(128), version=4))
        metadata: dict[str, Any] = {
            "integrity": integrity, "chat_id_hash": self.rng.getrandbits(52),
            "note_prompt": "", "note_interval": 1, "note_position": 1, "note_depth": 4,
            "note_role": 0, "timedWorldInfo": {"sticky": {}, "cooldown": {}}, "tainted": True,
            "lastInContextMessageId": self.spec.messages - 1,
        }  # fmt: skip
        if self.spec.ns_rate:
            metadata["qvink_memory"] = {"enabled": True, "profile": "Default"}
        return {"chat_metadata": metadata, "user_name": "unused", "character_name": "unused"}

    def user(self) -> dict[str, Any]:
        mes = self.scaled(0.1, 0.6)
        return {
            "name": "User", "is_user": True, "is_system": False,
            "send_date": self.stamp(self.rng.uniform(20, 600)), "mes": mes,
            "extra": {"isSmallSys": False, "token_count": len(mes) // 4},
            "force_avatar": "User Avatars/user-default.png",
        }  # fmt: skip

    def namespaces(self) -> dict[str, Any]:
        rng = self.rng
        scene_break = rng.random() < 0.15
        versions = [self.text(rng.uniform(300, 1200)) for _ in range(rng.randint(1, 3))]
        recap = {
            "memory": self.text(rng.uniform(300, 1500)),
            "include": rng.choice(("Summary of message(s)", "Combined summary", "")),
            "scene_break": scene_break, "scene_recap_versions": versions if scene_break else [],
            "prefill": rng.choice(("", "", "<recap>")),
        }  # fmt: skip
        qvink = {
            "memory": self.text(rng.uniform(100, 600)), "lagging": rng.random() < 0.1,
            "include": rng.choice(("summary", "summary", None)),
            "hash": rng.getrandbits(32) - (1 << 31),
        }  # fmt: skip
        return {"auto_recap_memory": recap, "qvink_memory": qvink}

    def swipe_extra(self, text: str, with_ns: bool) -> dict[str, Any]:
        extra: dict[str, Any] = {"api": "openai", "model": self.model}
        if self.spec.reasoning:
            extra["reasoning"] = self.scaled(0.2, 0.8)
            extra["reasoning_duration"] = self.rng.randint(2000, 90000)
        extra["token_count"] = len(text) // 4
        if with_ns:
            extra |= self.namespaces()
        return extra

    def bot(self) -> dict[str, Any]:
        rng = self.rng
        count = rng.choices((1, 2, 3, 4), weights=self.spec.swipe_weights)[0]
        swipes = [self.scaled(0.5, 1.5) for _ in range(count)]
        selected = rng.randrange(count)
        with_ns = rng.random() < self.spec.ns_rate
        extras = [self.swipe_extra(text, with_ns) for text in swipes]
        info: list[dict[str, Any]] = []
        for k in range(count):
            started = self.stamp(rng.uniform(5, 120))
            finished = self.stamp(rng.uniform(2, 60))
            extra = extras[k]
            if k == 0 and with_ns and rng.random() < 0.5:  # mirroring skipped swipe 0
                extra = {key: v for key, v in extra.items() if key != "auto_recap_memory"}
            info.append(
                {"send_date": finished, "gen_started": started, "gen_finished": finished,
                 "extra": extra}
            )  # fmt: skip
        return {
            "name": self.spec.character, "is_user": False, "is_system": False,
            "send_date": info[selected]["send_date"], "mes": swipes[selected],
            "extra": extras[selected], "swipes": swipes, "swipe_id": selected, "swipe_info": info,
            "gen_started": info[selected]["gen_started"],
            "gen_finished": info[selected]["gen_finished"],
        }  # fmt: skip

    def lines(self, count: int) -> list[bytes]:
        messages = (self.bot() if index % 2 == 0 else self.user() for index in range(count))
        return [ENC.encode(self.header()), *map(ENC.encode, messages)]


def _fit(spec: ChatSpec, seed: int, pool: str) -> tuple[ChatSpec, float]:
    """The text unit that makes the chat about ``target_bytes`` (bytes are linear in the unit).
    When that would make texts unrealistically short, the chat gets fewer messages instead."""
    sample = min(spec.messages, 200)
    low = sum(map(len, _Gen(spec, seed, pool, 0.0).lines(sample)[1:])) / sample
    high = sum(map(len, _Gen(spec, seed, pool, 1000.0).lines(sample)[1:])) / sample
    per_unit = max(high - low, 1.0) / 1000.0
    unit = (spec.target_bytes / spec.messages - low) / per_unit
    if unit >= MIN_UNIT:
        return spec, unit
    count = max(MIN_MESSAGES, int(spec.target_bytes / (low + MIN_UNIT * per_unit)))
    return replace(spec, messages=count), MIN_UNIT


def plan_corpus(scale: float = 1.0, seed: int = 1, with_big: bool = True) -> list[ChatSpec]:
    rng = random.Random(seed)
    specs: list[ChatSpec] = []
    names: set[tuple[str, str]] = set()

    def name_for(character: str) -> str:
        while True:
            day = datetime(2025, 6, 1, tzinfo=UTC) + timedelta(seconds=rng.randrange(40_000_000))
            name = f"{character} - {day:%Y-%m-%d@%Hh%Mm%Ss}{rng.randrange(1000)}ms"
            if rng.random() < 0.1:
                name += f" - Branch #{rng.randint(1, 9)}"
            if (character, name) not in names:
                names.add((character, name))
                return name

    heavy_n = max(60, round(2500 * scale))
    specs.append(
        ChatSpec("Seraphina", name_for("Seraphina"), heavy_n, heavy_n * 8000, "heavy", 1.0, True,
                 (55, 25, 12, 8))
    )  # fmt: skip
    if with_big:
        big_n = max(40, round(2300 * scale))
        specs.append(
            ChatSpec("Dungeon Master", name_for("Dungeon Master"), big_n, big_n * 49_000, "big",
                     1.0, True, (40, 30, 20, 10))
        )  # fmt: skip
    for _ in range(max(3, round(198 * scale))):
        character = rng.choice(CHARACTERS)
        size = math.exp(rng.uniform(math.log(500_000), math.log(3_000_000)))
        count = rng.randint(200, max(200, min(2000, int(size // 700))))
        ns_rate = rng.choice((0.0, 0.0, 0.5, 0.9, 1.0))
        weights = rng.choice(((90, 7, 2, 1), (70, 18, 8, 4), (100, 0, 0, 0)))
        specs.append(
            ChatSpec(character, name_for(character), count, int(size), "ordinary", ns_rate,
                     rng.random() < 0.4, weights)
        )  # fmt: skip
    return specs


def write_chat(root: Path, spec: ChatSpec, seed: int, pool: str) -> GeneratedChat:
    folder = root / "default-user" / "chats" / spec.character
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{spec.name}.jsonl"
    spec, unit = _fit(spec, seed, pool)
    data = b"\n".join(_Gen(spec, seed, pool, unit).lines(spec.messages))
    path.write_bytes(data)
    return GeneratedChat(spec, path, len(data))


def generate(root: Path, scale: float = 1.0, seed: int = 1, with_big: bool = True) -> Corpus:
    """Write the whole data root (``root`` should be empty or absent)."""
    pool = text_pool(seed)
    specs = plan_corpus(scale, seed, with_big)
    chats = [write_chat(root, spec, seed * 100_003 + i, pool) for i, spec in enumerate(specs)]
    return Corpus(root, chats)


def save_like_sillytavern(path: Path, data: bytes) -> None:
    """SillyTavern's save (temp file, fsync, rename), announced to the hands-off manifest."""
    st_save(path, data)


def edit_message_extra(path: Path, message: int, stamp: str) -> int:
    """Flip ``auto_recap_memory.scene_break`` and edit ``qvink_memory.memory`` of the first bot
    message with both namespaces at or after ``message`` (0-based); save like SillyTavern.
    Returns the 0-based message index edited."""
    lines = path.read_bytes().split(b"\n")
    for line_no in range(message + 1, len(lines)):
        obj = msgspec.json.decode(lines[line_no])
        extra = obj.get("extra") or {}
        if "auto_recap_memory" in extra and "qvink_memory" in extra:
            recap = extra["auto_recap_memory"]
            recap["scene_break"] = not recap["scene_break"]
            extra["qvink_memory"]["memory"] += f" [edited {stamp}]"
            lines[line_no] = ENC.encode(obj)
            save_like_sillytavern(path, b"\n".join(lines))
            return line_no - 1
    raise ValueError(f"no message with both namespaces after {message} in {path}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--skip-big", action="store_true")
    args = parser.parse_args()
    corpus = generate(args.out, args.scale, args.seed, not args.skip_big)
    for chat in corpus.chats:
        print(
            f"{chat.size:>11,} B {chat.spec.messages:>5} messages {chat.spec.role:<8} {chat.path}"
        )
    print(f"{len(corpus.chats)} chats, {corpus.total_bytes / 1e6:,.1f} MB -> {args.out}")


if __name__ == "__main__":
    main()
