"""Which messages a search may return: the chats its filters leave (user, chat, character,
group) and the range of send dates, resolved once against the catalog."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import Connection

from sidecar.errors import InvalidInput
from sidecar.storage.sqlite import fetchall


@dataclass(frozen=True)
class SearchFilters:
    namespace: str | None = None
    chat_id: str | None = None
    user: str | None = None
    character: str | None = None
    group_id: str | None = None
    date_from: str | None = None
    date_to: str | None = None


@dataclass(frozen=True)
class Scope:
    """``chats``: ``(chat_id, hex(chat_id))`` of the chats hits may come from, None for every
    chat. ``sent_from`` (inclusive) and ``sent_before`` (exclusive) bound the messages' send dates
    in the catalog's format (``2025-01-31T12:00:00.000Z``), which sorts as text."""

    chats: list[tuple[str, str]] | None = None
    sent_from: str | None = None
    sent_before: str | None = None

    @property
    def dated(self) -> bool:
        return self.sent_from is not None or self.sent_before is not None

    @property
    def chat_ids(self) -> list[str] | None:
        return None if self.chats is None else [chat_id for chat_id, _ in self.chats]


def _stamp(value: datetime) -> str:
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"


def _parse(name: str, raw: str) -> tuple[datetime, bool]:
    """The instant ``raw`` names (UTC when it has no offset) and whether it was a bare date."""
    text = raw.strip()
    try:
        if len(text) == 10:
            day = date.fromisoformat(text)
            return datetime(day.year, day.month, day.day, tzinfo=UTC), True
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise InvalidInput(
            f"{name} must be an ISO 8601 date or date-time (2025-01-31 or 2025-01-31T12:00:00Z)"
        ) from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC), False


def date_bounds(date_from: str | None, date_to: str | None) -> tuple[str | None, str | None]:
    """``dateFrom``/``dateTo`` (both inclusive; a bare ``dateTo`` date covers that whole day) as
    an inclusive lower and an exclusive upper bound on send dates; 400 when unreadable or
    reversed."""
    low = high = None
    if date_from is not None:
        low = _stamp(_parse("dateFrom", date_from)[0])
    if date_to is not None:
        instant, bare = _parse("dateTo", date_to)
        try:
            high = _stamp(instant + (timedelta(days=1) if bare else timedelta(milliseconds=1)))
        except OverflowError:
            high = None  # the end of year 9999: no upper bound
    if low is not None and high is not None and low >= high:
        raise InvalidInput("dateFrom must not be after dateTo")
    return low, high


def resolve_scope(
    catalog: Connection, filters: SearchFilters, bounds: tuple[str | None, str | None]
) -> Scope:
    """The scope of ``filters``; ``bounds`` are its :func:`date_bounds`."""
    low, high = bounds
    conditions, params = [], []
    for column, value in (
        ("chat_id", filters.chat_id),
        ("user", filters.user),
        ("character", filters.character),
        ("group_id", filters.group_id),
    ):
        if value is not None:
            conditions.append(f"{column} = ?")
            params.append(value)
    if not conditions:
        return Scope(None, low, high)
    rows = fetchall(
        catalog,
        "SELECT chat_id, hex(chat_id) FROM chats WHERE " + " AND ".join(conditions),
        params,
    )
    return Scope([(str(r[0]), str(r[1])) for r in rows], low, high)
