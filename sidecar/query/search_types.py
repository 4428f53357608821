"""A search hit, as ``GET /search`` returns it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Hit:
    chat_id: str
    user: str
    position: int
    swipe: int | None
    where: str
    snippet: str
    score: float
    send_date: str | None = None  # of the message (normalized UTC), so a page needs no lookup

    def as_json(self) -> dict[str, Any]:
        return {
            "chatId": self.chat_id,
            "user": self.user,
            "position": self.position,
            "swipe": self.swipe,
            "where": self.where,
            "snippet": self.snippet,
            "score": self.score,
            "sendDate": self.send_date,
        }


@dataclass(frozen=True)
class Found:
    """A hit before its snippet: where to make it (``source`` None for the catalog, else the
    extension id of the database; ``rowid`` in that database's index; ``match`` the FTS5 query).
    Snippets are made only for the hits that make the final page."""

    hit: Hit
    source: str | None
    rowid: int
    match: str
