"""What a person types, turned into FTS5 queries that cannot break.

The query is never FTS5 syntax: it is split on whitespace and every word becomes a quoted phrase
(``"tok"``, ``"`` doubled), so operators (``AND``, ``NEAR``, ``*``, ``^``, parentheses) are plain
words or ignored punctuation. Each word is segmented like the indexed text
(``sidecar.storage.segment``): a Latin word matches that word; a run of CJK characters becomes a
phrase of consecutive characters and matches wherever that substring occurs; ``字2025字`` is the
phrase ``字 2025 字`` and ``2025`` alone matches it.

Searches are restricted to the text column (``text : (...)``); the catalog's other column,
``chat``, holds one token per chat and is only ever queried as ``chat : "<hex id>"``.
"""

from __future__ import annotations

from dataclasses import dataclass

from sidecar.errors import InvalidInput
from sidecar.storage.segment import has_cjk, segment

MAX_QUERY_CHARS = 1000
MAX_TOKENS = 32


def _phrase(token: str) -> str:
    text = segment(token) or token
    return '"' + text.replace('"', '""') + '"'


def _searchable(token: str) -> bool:
    """A token without a letter or digit holds nothing the tokenizer indexes."""
    return any(c.isalnum() for c in token)


def _tokens(q: str) -> list[str]:
    # FTS5 reads the query as a C string, so a NUL would cut it short ("unterminated string", a
    # 500): it separates words like the tokenizer does.
    return q.replace("\x00", " ").split()


def check_query(q: str) -> None:
    """400 when ``q`` is empty or too long."""
    if not q.strip():
        raise InvalidInput("Search query q is required")
    if len(q) > MAX_QUERY_CHARS:
        raise InvalidInput(f"Search query q must be at most {MAX_QUERY_CHARS} characters")


def query_phrases(q: str) -> list[str]:
    """The quoted phrases of ``q`` (all must match); [] when ``q`` has nothing searchable
    (only punctuation); 400 when it is empty, too long, or has too many words."""
    check_query(q)
    tokens = [t for t in _tokens(q) if _searchable(t)]
    if len(tokens) > MAX_TOKENS:
        raise InvalidInput(f"Search query q must have at most {MAX_TOKENS} words")
    return [_phrase(t) for t in tokens]


def text_match(phrases: list[str]) -> str:
    return "text : (" + " ".join(phrases) + ")"


def chat_match(chat_hexes: list[str]) -> str:
    """The catalog expression for "a message of one of these chats" (ids as ``hex(chat_id)``)."""
    return "chat : (" + " OR ".join(f'"{h}"' for h in chat_hexes) + ")"


def is_cjk_query(phrases: list[str]) -> bool:
    return any(has_cjk(p) for p in phrases)


@dataclass(frozen=True)
class Fragment:
    """One whitespace-separated part of a chat search, as SillyTavern's chat search takes it:
    ``text`` (lower-cased) must be in the chat file's name or in one of its messages. ``match``
    is its FTS5 expression over message text, None when it has no letter or digit (it can then
    only match the file name). ``exact`` says the index finds every substring match too: each of
    its letters and digits is CJK, so no substring of the text can start or end inside a word."""

    text: str
    match: str | None
    exact: bool = False


def chat_fragments(q: str) -> list[Fragment]:
    """The fragments of a chat search (``/chats?q=``); 400 when ``q`` is too long or has too
    many words. An empty ``q`` has none (no filter)."""
    if len(q) > MAX_QUERY_CHARS:
        raise InvalidInput(f"Search query q must be at most {MAX_QUERY_CHARS} characters")
    tokens = list(dict.fromkeys(t.casefold() for t in _tokens(q)))
    if len(tokens) > MAX_TOKENS:
        raise InvalidInput(f"Search query q must have at most {MAX_TOKENS} words")
    return [
        Fragment(t, text_match([_phrase(t)]), _all_cjk(t)) if _searchable(t) else Fragment(t, None)
        for t in tokens
    ]


def _all_cjk(token: str) -> bool:
    return all(has_cjk(c) for c in token if c.isalnum())
