"""normalize_send_date: every send_date format SillyTavern has written, and garbage."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta, timezone

import pytest

from sidecar.sillytavern.dates import normalize_send_date

PLUS_TWO = timezone(timedelta(hours=2))
MINUS_FIVE = timezone(timedelta(hours=-5))


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        # epoch milliseconds (2023 files), as numbers and digit strings; timezone never matters
        (1673181146000, "2023-01-08T12:32:26.000Z"),
        (1674563371558, "2023-01-24T12:29:31.558Z"),
        (1746455179285.27, "2025-05-05T14:26:19.285Z"),
        (1746455179285.0, "2025-05-05T14:26:19.285Z"),
        ("1673181146000", "2023-01-08T12:32:26.000Z"),
        (" 1673181146000 ", "2023-01-08T12:32:26.000Z"),
        (0, "1970-01-01T00:00:00.000Z"),
        ("2023", "1970-01-01T00:00:02.023Z"),  # any digit string is epoch ms
        # ISO (1.15+): offsets are honoured
        ("2026-03-02T18:05:47.221Z", "2026-03-02T18:05:47.221Z"),
        ("2026-03-02T18:05:47Z", "2026-03-02T18:05:47.000Z"),
        ("2026-03-02T18:05:47.221+02:00", "2026-03-02T16:05:47.221Z"),
        ("2026-03-02T20:05:47-05:00", "2026-03-03T01:05:47.000Z"),
        ("2026-03-02T18:05:47.221999Z", "2026-03-02T18:05:47.221Z"),
        ("2026-03-02T18:05:47.2219999Z", "2026-03-02T18:05:47.221Z"),
    ],
)
def test_zone_independent_formats(raw: object, expected: str) -> None:
    assert normalize_send_date(raw, PLUS_TWO) == expected
    assert normalize_send_date(raw, MINUS_FIVE) == expected
    assert normalize_send_date(raw) == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        # humanized server format, local time, spaces and ms optional
        ("2023-4-21 @20h 02m 47s 124ms", "2023-04-21T18:02:47.124Z"),
        ("2023-4-21@20h02m47s124ms", "2023-04-21T18:02:47.124Z"),
        ("2024-12-23@14h09m29s", "2024-12-23T12:09:29.000Z"),
        ("2025-5-5 @14h 26m 19s 5ms", "2025-05-05T12:26:19.005Z"),
        ("2023-1-1 @0h 0m 0s 0ms", "2022-12-31T22:00:00.000Z"),
        # month-name format (moment "MMMM D, YYYY h:mma"), local time, minute precision
        ("June 19, 2023 2:20pm", "2023-06-19T12:20:00.000Z"),
        ("December 23, 2024 2:09pm", "2024-12-23T12:09:00.000Z"),
        ("May 5, 2025 10:20pm", "2025-05-05T20:20:00.000Z"),
        ("June 1, 2025 7:47am", "2025-06-01T05:47:00.000Z"),
        ("January 1, 2025 12:05am", "2024-12-31T22:05:00.000Z"),
        ("January 1, 2025 12:05pm", "2025-01-01T10:05:00.000Z"),
        ("Dec 23, 2024 2:09 PM", "2024-12-23T12:09:00.000Z"),
        # ISO without an offset is local time too (as JavaScript's Date reads it)
        ("2026-03-02T18:05:47", "2026-03-02T16:05:47.000Z"),
        ("2026-03-02 18:05:47.5", "2026-03-02T16:05:47.500Z"),
    ],
)
def test_local_time_formats(raw: str, expected: str) -> None:
    assert normalize_send_date(raw, PLUS_TWO) == expected


def test_named_zone_follows_daylight_saving() -> None:
    zoneinfo = pytest.importorskip("zoneinfo")
    try:
        berlin = zoneinfo.ZoneInfo("Europe/Berlin")
    except zoneinfo.ZoneInfoNotFoundError:
        pytest.skip("no tz database")
    assert normalize_send_date("2023-4-21 @20h 02m 47s 124ms", berlin) == "2023-04-21T18:02:47.124Z"
    assert normalize_send_date("December 23, 2024 2:09pm", berlin) == "2024-12-23T13:09:00.000Z"


def test_default_is_the_machine_local_zone() -> None:
    local = datetime(2023, 4, 21, 20, 2, 47, 124000).astimezone().astimezone(UTC)
    expected = local.strftime("%Y-%m-%dT%H:%M:%S.124Z")
    assert normalize_send_date("2023-4-21 @20h 02m 47s 124ms") == expected
    assert normalize_send_date("2023-4-21 @20h 02m 47s 124ms", None) == expected


def test_local_formats_in_utc() -> None:
    assert normalize_send_date("June 19, 2023 2:20pm", UTC) == "2023-06-19T14:20:00.000Z"
    assert normalize_send_date("2024-12-23@14h09m29s", UTC) == "2024-12-23T14:09:29.000Z"


@pytest.mark.parametrize(
    "raw",
    [
        None,
        True,
        False,
        "",
        "   ",
        "nonsense",
        "unused",
        -1,
        -1673181146000,
        10**20,
        float("nan"),
        float("inf"),
        "99999999999999999999",
        "-1673181146000",
        "2023-13-01 @20h 02m 47s",
        "2023-4-31 @20h 02m 47s",
        "2023-4-21 @25h 02m 47s",
        "2023-4-21 @20h 02m",
        "2023-4-21 @20h 02m 47s 1234ms",
        "Smarch 19, 2023 2:20pm",
        "June 19, 2023 13:20pm",
        "June 19, 2023 0:20am",
        "June 31, 2023 2:20pm",
        "June 19, 2023 2:20",
        "2026-03-02T25:05:47Z",
        "2026-03-02Tfoo",
        "12:30",
        "0001-01-01T00:00:00",
        "9999-12-31T23:59:59-05:00",
        [1673181146000],
        {"send_date": 1},
        "١٦٧٣١٨١١٤٦٠٠٠",  # Arabic-Indic digits are not epoch ms
    ],
)
def test_unparseable_is_none(raw: object) -> None:
    assert normalize_send_date(raw, PLUS_TWO) is None


def test_garbage_never_raises() -> None:
    rng = random.Random(1234)
    alphabet = "0123456789-@hms :,.TZ+apmJuneDec字\x00\n"
    for _ in range(5000):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 30)))
        result = normalize_send_date(text, PLUS_TWO)
        assert result is None or (len(result) == 24 and result.endswith("Z"))
