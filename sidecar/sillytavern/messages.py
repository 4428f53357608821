"""What the parsed lines of a chat file mean: header or message, swipes, extension namespaces.

Input is whatever a JSON parser produced, so every function here accepts wrong types anywhere and
never raises; oddities a user may want to know about are reported in ``MessageInfo.problems``.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Collection
from dataclasses import dataclass
from datetime import tzinfo
from typing import Any

from sidecar.ids import is_valid_id
from sidecar.sillytavern.dates import normalize_send_date

# SillyTavern's own keys in message.extra (core and its bundled extensions). Everything else is an
# extension's namespace.
BUILTIN_EXTRA_KEYS: frozenset[str] = frozenset(
    {
        *("api", "model", "gen_id", "type", "bias", "isSmallSys", "swipeable", "uses_system_ui"),
        *("reasoning", "reasoning_duration", "reasoning_type", "reasoning_signature"),
        *("display_text", "reasoning_display_text", "token_count", "time_to_first_token"),
        *("memory", "title", "append_title", "tool_invocations", "bookmark_link", "branches"),
        *("media", "media_display", "media_index", "files", "file"),
        *("image", "image_swipes", "inline_image"),
        # also SillyTavern 1.18's: public/global.d.ts (BaseMessageExtra), public/scripts/chats.js
        # (fileLength), public/scripts/logprobs.js (from_logprobs)
        *("overswipe_behavior", "video", "generationType", "negative", "fileLength"),
        "from_logprobs",
    }
)
# SillyTavern's own chat_metadata keys, including those of its bundled extensions (CFG, Data Bank,
# backgrounds, STscript /inject and variables, macro {{pick}} seeds).
BUILTIN_CHAT_METADATA_KEYS: frozenset[str] = frozenset(
    {
        *("integrity", "chat_id_hash", "main_chat", "tainted", "lastInContextMessageId"),
        *("note_prompt", "note_interval", "note_position", "note_depth", "note_role"),
        *("world_info", "timedWorldInfo", "variables", "script_injects", "quickReply"),
        *("scenario", "mes_example", "system_prompt", "persona", "attachments"),
        *("custom_background", "chat_backgrounds", "pick_reroll_seed"),
        *("cfg_guidance_scale", "cfg_negative_prompt", "cfg_positive_prompt", "cfg_prompt_combine"),
        *("cfg_groupchat_individual_chars", "cfg_prompt_insertion_depth", "cfg_prompt_separator"),
    }
)
# SillyTavern's own top-level message keys (1.18 and the eras its files still come from). Any other
# top-level field was written by an extension and is indexed as a namespace by default
# (``index.top_level_fields`` overrides). Where each comes from, in SillyTavern 1.18's tree:
SILLYTAVERN_MESSAGE_KEYS: frozenset[str] = frozenset(
    {
        # public/global.d.ts, ``interface ChatMessage`` (written by public/script.js
        # sendMessageAsUser and the reply path, public/scripts/slash-commands.js,
        # system-messages.js, ...):
        *("name", "mes", "title", "gen_started", "gen_finished", "send_date"),
        *("is_user", "is_system", "force_avatar", "original_avatar"),
        *("swipes", "swipe_info", "swipe_id", "extra"),
        # public/scripts/slash-commands.js (sendMessageAs: ``is_name: true``); also every
        # TavernAI-era message (2023 files)
        "is_name",
        # group chats up to 1.14 mark their first message ``is_group: true`` (they had no header;
        # src/endpoints/groups.js adds one since 1.15 but leaves the message as it is)
        "is_group",
        # the header's keys (public/global.d.ts ``interface ChatHeader``, src/endpoints/chats.js
        # imports; ``create_date`` up to 1.14): a header line that follows other lines is read as a
        # message, and its keys are still SillyTavern's
        *("chat_metadata", "user_name", "character_name", "create_date"),
    }
)
NON_OBJECT_KEY = "$value"

_UNSAFE_ID_CHARS = re.compile(r"[^A-Za-z0-9_-]")
_MAX_ID = 128
_HASH_CHARS = 8


def is_header(obj: object) -> bool:
    """Line 0 is a header when it has ``chat_metadata``, or user/character names and no ``mes``."""
    if not isinstance(obj, dict):
        return False
    if "chat_metadata" in obj:
        return True
    return ("user_name" in obj or "character_name" in obj) and "mes" not in obj


def header_problems(obj: dict[str, Any]) -> tuple[str, ...]:
    """Oddities of a header line worth reporting (its metadata is then read as ``{}``)."""
    metadata = obj.get("chat_metadata") if isinstance(obj, dict) else None
    if metadata is not None and not isinstance(metadata, dict):
        return ("chat_metadata is not an object",)
    return ()


@dataclass(frozen=True)
class HeaderInfo:
    user_name: str | None
    character_name: str | None
    create_date: str | None  # raw value as text
    chat_metadata: dict[str, Any]  # {} when missing or not an object
    integrity: str | None


def header_info(obj: dict[str, Any]) -> HeaderInfo:
    if not isinstance(obj, dict):
        obj = {}
    metadata = _object(obj.get("chat_metadata"))
    integrity = metadata.get("integrity")
    return HeaderInfo(
        user_name=_str(obj.get("user_name")),
        character_name=_str(obj.get("character_name")),
        create_date=_raw_text(obj.get("create_date")),
        chat_metadata=metadata,
        integrity=integrity if isinstance(integrity, str) else None,
    )


@dataclass(frozen=True)
class MessageInfo:
    name: str | None
    is_user: bool
    is_system: bool
    send_date_raw: str | None  # raw value as text (numbers via str()), None if absent or null
    send_date: str | None  # normalized UTC ISO 8601
    text: str | None  # "mes" when it is a string
    swipe_id: int  # the selected swipe (0 when absent or invalid)
    swipe_count: int  # len(swipes) when swipes is a list, else 0
    builtin_extra: dict[str, Any]  # the built-in keys of message.extra
    problems: tuple[str, ...]  # non-fatal oddities


@dataclass(frozen=True)
class NamespaceValue:
    swipe: int
    selected: bool
    namespace: str
    data: dict[str, Any]  # a non-object namespace value v becomes {NON_OBJECT_KEY: v}


def message_info(obj: dict[str, Any], tz: tzinfo | None = None) -> MessageInfo:
    """Summarise one message line; ``tz`` is the zone of local-time send dates (default: local)."""
    if not isinstance(obj, dict):
        obj = {}
    problems: list[str] = []
    swipes = obj.get("swipes")
    if swipes is not None and not isinstance(swipes, list):
        problems.append("swipes is not a list")
    swipe_info = obj.get("swipe_info")
    if swipe_info is not None and not isinstance(swipe_info, list):
        problems.append("swipe_info is not a list")
    selected, problem = _selected_swipe(obj)
    if problem:
        problems.append(problem)
    extra = obj.get("extra")
    if extra is not None and not isinstance(extra, dict):
        problems.append("extra is not an object")
    raw_date = obj.get("send_date")
    return MessageInfo(
        name=_str(obj.get("name")),
        is_user=_js_truthy(obj.get("is_user")),
        is_system=_js_truthy(obj.get("is_system")),
        send_date_raw=_raw_text(raw_date),
        send_date=normalize_send_date(raw_date, tz),
        text=_str(obj.get("mes")),
        swipe_id=selected,
        swipe_count=len(swipes) if isinstance(swipes, list) else 0,
        builtin_extra={k: v for k, v in _object(extra).items() if k in BUILTIN_EXTRA_KEYS},
        problems=tuple(problems),
    )


def message_namespaces(
    obj: dict[str, Any], top_level_fields: Collection[str] | None = None
) -> list[NamespaceValue]:
    """Every extension namespace of every swipe, ordered by swipe then namespace.

    The selected swipe's come from ``message.extra`` (it wins over ``swipe_info[selected].extra``,
    which SillyTavern syncs only on swipe or reply end) plus top-level fields (an ``extra`` key of
    the same name wins): every one that is not SillyTavern's own (``SILLYTAVERN_MESSAGE_KEYS``)
    when ``top_level_fields`` is None, else exactly those named. Other swipes' come from
    ``swipe_info[k].extra``. A top-level field belongs to the selected swipe: SillyTavern keeps no
    per-swipe copy of it.
    """
    if not isinstance(obj, dict):
        return []
    selected, _ = _selected_swipe(obj)
    found: dict[tuple[int, str], NamespaceValue] = {}

    def add(swipe: int, source: object) -> None:
        for key, value in _object(source).items():
            if key not in BUILTIN_EXTRA_KEYS:
                found[swipe, key] = NamespaceValue(swipe, swipe == selected, key, _wrap(value))

    fields = (
        [key for key in obj if key not in SILLYTAVERN_MESSAGE_KEYS]
        if top_level_fields is None
        else top_level_fields
    )
    for name in fields:
        if obj.get(name) is not None:
            found[selected, name] = NamespaceValue(selected, True, name, _wrap(obj[name]))
    add(selected, obj.get("extra"))
    swipes, swipe_info = obj.get("swipes"), obj.get("swipe_info")
    if isinstance(swipes, list) and isinstance(swipe_info, list):
        for k, info in enumerate(swipe_info[: len(swipes)]):
            if k != selected and isinstance(info, dict) and isinstance(info.get("extra"), dict):
                add(k, info["extra"])
    return [found[key] for key in sorted(found)]


def chat_namespaces(chat_metadata: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Extension namespaces of a chat's metadata: every key SillyTavern does not own."""
    return {
        key: _wrap(value)
        for key, value in _object(chat_metadata).items()
        if key not in BUILTIN_CHAT_METADATA_KEYS
    }


def extension_id_for(namespace: str) -> str:
    """The extension id (and database file name) a namespace maps to by default.

    Valid ids map to themselves; anything else to ``ns_<sanitised>_<sha256 prefix>``, deterministic
    and collision-resistant even when sanitising or truncating merges different names.
    """
    if is_valid_id(namespace):
        return namespace
    digest = hashlib.sha256(namespace.encode("utf-8", "surrogatepass")).hexdigest()[:_HASH_CHARS]
    room = _MAX_ID - len("ns_") - 1 - _HASH_CHARS
    return f"ns_{_UNSAFE_ID_CHARS.sub('_', namespace[:room])}_{digest}"


def _selected_swipe(obj: dict[str, Any]) -> tuple[int, str | None]:
    """The selected swipe index, and the problem with ``swipe_id`` if it had to fall back to 0."""
    swipes = obj.get("swipes")
    count = len(swipes) if isinstance(swipes, list) else 0
    swipe_id = obj.get("swipe_id")
    if swipe_id is None:
        return 0, None
    if isinstance(swipe_id, float) and swipe_id.is_integer():
        swipe_id = int(swipe_id)  # JavaScript has one number type: 1.0 is swipe 1 for SillyTavern
    if not isinstance(swipe_id, int) or isinstance(swipe_id, bool):
        return 0, f"swipe_id {_raw_text(swipe_id)} is not an integer"
    if 0 <= swipe_id < count or swipe_id == count == 0:
        return swipe_id, None
    return 0, f"swipe_id {swipe_id} is out of range ({count} swipes)"


def _wrap(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {NON_OBJECT_KEY: value}


def _object(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _str(value: object) -> str | None:
    return value if isinstance(value, str) else None


def _raw_text(value: object) -> str | None:
    """Strings as they are, anything else as compact JSON (so ``1674559896839``, ``true``)."""
    if value is None or isinstance(value, str):
        return value
    try:
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    except (TypeError, ValueError, RecursionError):
        return str(value)


def _js_truthy(value: object) -> bool:
    """SillyTavern's client tests these flags with JavaScript truthiness."""
    if isinstance(value, (dict, list)):
        return True
    if isinstance(value, float) and math.isnan(value):
        return False
    return bool(value)
