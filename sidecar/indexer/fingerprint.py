"""The fingerprint of the settings that shape indexed data, and what changed between two of them.

The catalog keeps the fingerprint its data was derived with (``catalog_meta``). Two parts:

* ``derived``: what decides the derived rows of a chat (which namespaces are indexed, where each
  goes, which top-level message fields count, and sidecar's own rules about SillyTavern's keys).
  When it changes, every chat is re-derived from its file (``rederive``).
* ``discovery``: what decides which files are chats (``index.skip_dirs``/``skip_prefixes``). A
  full scan applies a change by itself (chats it no longer finds are marked missing, new ones are
  indexed), so a change is only logged.
"""

from __future__ import annotations

import hashlib
from typing import Any

import msgspec

from sidecar.indexer.update_state import UpdateSettings
from sidecar.sillytavern.discovery import DiscoveryOptions
from sidecar.sillytavern.messages import (
    BUILTIN_CHAT_METADATA_KEYS,
    BUILTIN_EXTRA_KEYS,
    SILLYTAVERN_MESSAGE_KEYS,
)

# Raise when a change to sidecar makes it derive other rows from the same file and settings.
DERIVATION_VERSION = 1
RULES = "sidecar's rules"  # the name under which sidecar's own part is reported


def _rules_digest() -> str:
    keys = [sorted(BUILTIN_EXTRA_KEYS), sorted(BUILTIN_CHAT_METADATA_KEYS)]
    keys.append(sorted(SILLYTAVERN_MESSAGE_KEYS))
    digest = hashlib.sha256(msgspec.json.encode(keys)).hexdigest()[:16]
    return f"{DERIVATION_VERSION}:{digest}"


def settings_fingerprint(settings: UpdateSettings, discovery: DiscoveryOptions) -> dict[str, Any]:
    """The canonical form of the settings in effect (JSON-able; equal settings, equal value)."""
    top_level = settings.top_level_fields
    return {
        "derived": {
            **settings.policy.settings(),
            "index.top_level_fields": None if top_level is None else sorted(set(top_level)),
            RULES: _rules_digest(),
        },
        "discovery": {
            "index.skip_dirs": sorted(discovery.skip_dir_names),
            "index.skip_prefixes": sorted(set(discovery.skip_prefixes)),
        },
    }


def encode(fingerprint: dict[str, Any]) -> str:
    return msgspec.json.encode(fingerprint).decode()


def decode(text: str | None) -> dict[str, Any] | None:
    """A stored fingerprint; None when there is none, or it is not one this sidecar wrote."""
    if not text:
        return None
    try:
        value = msgspec.json.decode(text)
    except msgspec.DecodeError:
        return None
    ok = isinstance(value, dict) and all(isinstance(value.get(k), dict) for k in PARTS)
    return value if ok else None


PARTS = ("derived", "discovery")


def changes(old: dict[str, Any], new: dict[str, Any], part: str) -> list[str]:
    """One readable line per setting of ``part`` that differs, e.g.
    ``index.exclude_namespaces changed ([] -> ["secret"])``."""
    before, after = old.get(part, {}), new.get(part, {})
    found = []
    for name in sorted(set(before) | set(after)):
        if before.get(name) != after.get(name):
            if name == RULES:
                found.append(f"{RULES} about SillyTavern's own keys changed (a sidecar upgrade)")
            else:
                found.append(f"{name} changed ({_shown(name, before.get(name))} -> "
                             f"{_shown(name, after.get(name))})")  # fmt: skip
    return found


def _shown(name: str, value: Any) -> str:
    if value is None and name == "index.top_level_fields":
        return "every field that is not SillyTavern's own"
    return msgspec.json.encode(value).decode()
