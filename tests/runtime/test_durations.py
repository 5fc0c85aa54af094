"""wdk.runtime.durations: the duration forms of sleep()/retry_after and wake times."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from wdk.runtime.durations import parse_duration, wake_time


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("10s", 10),
        ("5m", 300),
        ("1h", 3600),
        ("3d", 3 * 86400),
        ("2w", 14 * 86400),
        ("500ms", 0.5),
        ("1.5h", 5400),
        ("1h30m", 5400),
        ("30m1h", 5400),
        ("1h 30m", 5400),
        ("  10 s  ", 10),
        ("2 days", 2 * 86400),
        ("1 hour 2 minutes 3 seconds", 3723),
        ("10S", 10),
        ("1Hr", 3600),
        (".5s", 0.5),
        ("2.s", 2),
        ("90", 90),
        ("0s", 0),
        ("1.25", 1.25),
    ],
)
def test_string_forms(text: str, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)
    assert isinstance(parse_duration(text), float)


def test_numbers_and_timedelta_are_seconds() -> None:
    assert parse_duration(7) == 7.0
    assert parse_duration(0.25) == 0.25
    assert parse_duration(timedelta(minutes=2, milliseconds=5)) == 120.005


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("-5s", "negative durations are not allowed"),
        ("-5", "negative durations are not allowed"),
        (-1, "is negative"),
        (timedelta(seconds=-1), "is negative"),
        (float("nan"), "not finite"),
        (float("inf"), "not finite"),
        ("5y", "unknown unit 'y'"),
        ("1h30", "cannot parse duration '1h30'"),
        ("", "cannot parse duration ''"),
        ("h", "cannot parse duration 'h'"),
        ("1h, 2m", "cannot parse"),
        ("ten seconds", "cannot parse"),
    ],
)
def test_bad_values_name_value_and_forms(value: object, reason: str) -> None:
    with pytest.raises(ValueError) as info:
        parse_duration(value)  # type: ignore[arg-type]
    message = str(info.value)
    assert reason in message
    assert '"1h30m"' in message and "timedelta" in message


@pytest.mark.parametrize("value", [True, None, [1], b"1s"])
def test_wrong_types(value: object) -> None:
    with pytest.raises(TypeError, match="a duration must be"):
        parse_duration(value)  # type: ignore[arg-type]


@given(
    st.integers(0, 1000),
    st.integers(0, 59),
    st.integers(0, 59),
    st.integers(0, 999),
    st.booleans(),
)
def test_property_components_sum(h: int, m: int, s: int, ms: int, spaced: bool) -> None:
    sep = " " if spaced else ""
    text = sep.join([f"{h}h", f"{m}m", f"{s}s", f"{ms}ms"])
    assert parse_duration(text) == pytest.approx(h * 3600 + m * 60 + s + ms / 1000)


def test_wake_time_of_a_duration_is_relative() -> None:
    assert wake_time("1m", now=1000.0) == 1060.0
    assert wake_time(5, now=1000.0) == 1005.0
    assert wake_time(timedelta(hours=1), now=0.0) == 3600.0


def test_wake_time_of_a_datetime_is_absolute() -> None:
    aware = datetime(2030, 1, 1, 12, tzinfo=timezone(timedelta(hours=2)))
    assert wake_time(aware, now=0.0) == datetime(2030, 1, 1, 10, tzinfo=UTC).timestamp()
    naive = datetime(2030, 1, 1, 12)  # taken as UTC, whatever the machine's zone
    assert wake_time(naive, now=0.0) == datetime(2030, 1, 1, 12, tzinfo=UTC).timestamp()
    past = datetime(2000, 1, 1, tzinfo=UTC)
    assert wake_time(past, now=2e9) == past.timestamp()  # in the past: wake at once
