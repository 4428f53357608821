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

    def as_json(self) -> dict[str, Any]:
        return {
            "chatId": self.chat_id,
            "user": self.user,
            "position": self.position,
            "swipe": self.swipe,
            "where": self.where,
            "snippet": self.snippet,
            "score": self.score,
        }
