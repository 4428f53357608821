"""Normalise the ``send_date`` values SillyTavern has written over the years to one UTC format.

Called for every message, so the cheap type and first-character checks run before any regex.
"""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime, timedelta, tzinfo

__all__ = ["normalize_send_date"]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# Epoch milliseconds from 1970 up to the end of year 9999; anything else is not a real send date.
_MAX_EPOCH_MS = 253_402_300_799_999

# "2023-4-21 @20h 02m 47s 124ms", "2024-12-23@14h09m29s" (the ms part is optional)
_HUMANIZED = re.compile(
    r"(\d{4})-(\d{1,2})-(\d{1,2})\s*@\s*(\d{1,2})h\s*(\d{1,2})m\s*(\d{1,2})s(?:\s*(\d{1,3})ms)?",
    re.ASCII,
)
# "June 19, 2023 2:20pm", "December 23, 2024 2:09 PM" (moment's "MMMM D, YYYY h:mma")
_MONTH_NAME = re.compile(
    r"([A-Za-z]{3,9})\.?\s+(\d{1,2}),?\s*(\d{4}),?\s+(\d{1,2}):(\d{2})\s*([AaPp])\.?[Mm]\.?",
    re.ASCII,
)
_MONTH_NAMES = (
    "january",
    "february",
    "march",
    "april",
    "may",
    "june",
    "july",
    "august",
    "september",
    "october",
    "november",
    "december",
)
_MONTHS = {
    name[:length]: number for number, name in enumerate(_MONTH_NAMES, 1) for length in (3, 9)
}
_MONTHS["sept"] = 9


def normalize_send_date(raw: object, tz: tzinfo | None = None) -> str | None:
    """Return ``raw`` as ``YYYY-MM-DDTHH:MM:SS.mmmZ`` (UTC), or None when it is not a date.

    Local-time formats (humanized, month-name, ISO without an offset) are read in ``tz``, or in the
    machine's local timezone when ``tz`` is None. Never raises.
    """
    if isinstance(raw, bool):
        return None
    if isinstance(raw, int):
        return _from_epoch_ms(raw)
    if isinstance(raw, float):
        return _from_epoch_ms(math.floor(raw)) if math.isfinite(raw) else None
    if not isinstance(raw, str):
        return None
    text = raw.strip()
    if not text:
        return None
    try:
        if text[0].isascii() and text[0].isdigit():
            return _from_digit_start(text, tz)
        match = _MONTH_NAME.fullmatch(text)
        if match is None:
            return None
        month = _MONTHS.get(match[1].lower())
        hour = int(match[4])
        if month is None or not 1 <= hour <= 12:
            return None
        hour = hour % 12 + (12 if match[6] in "Pp" else 0)
        local = datetime(int(match[3]), month, int(match[2]), hour, int(match[5]))
        return _format(_to_utc(local, tz))
    except (ValueError, OverflowError, OSError):
        return None


def _from_digit_start(text: str, tz: tzinfo | None) -> str | None:
    if text.isascii() and text.isdigit():
        return _from_epoch_ms(int(text)) if len(text) <= 16 else None
    if "@" in text:
        match = _HUMANIZED.fullmatch(text)
        if match is None:
            return None
        year, month, day, hour, minute, second = (int(g) for g in match.group(1, 2, 3, 4, 5, 6))
        millis = int(match[7]) if match[7] is not None else 0
        local = datetime(year, month, day, hour, minute, second, millis * 1000)
        return _format(_to_utc(local, tz))
    if len(text) < 10 or text[4] != "-":
        return None
    parsed = datetime.fromisoformat(text)
    return _format(_to_utc(parsed, tz))


def _from_epoch_ms(ms: int) -> str | None:
    if not 0 <= ms <= _MAX_EPOCH_MS:
        return None
    return _format(_EPOCH + timedelta(milliseconds=ms))


def _to_utc(value: datetime, tz: tzinfo | None) -> datetime:
    """Aware values are converted; naive ones are wall-clock time in ``tz`` (or the local zone)."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=tz) if tz is not None else value.astimezone()
    return value.astimezone(UTC)


def _format(value: datetime) -> str:
    return (
        f"{value.year:04d}-{value.month:02d}-{value.day:02d}T{value.hour:02d}:"
        f"{value.minute:02d}:{value.second:02d}.{value.microsecond // 1000:03d}Z"
    )
