"""The wake-up time a durable wait means (`sleep("1h")`, `sleep(datetime)`).

The duration grammar itself is `wdk.durations` (`parse_duration` is also
importable from here).
"""

from __future__ import annotations

from datetime import UTC, datetime

from wdk.durations import Duration, parse_duration

__all__ = ["Duration", "parse_duration", "wake_time"]


def wake_time(value: Duration | datetime, now: float) -> float:
    """Absolute unix time at which a wait of `value`, begun at `now`, ends.

    A `datetime` means "wake at": an aware one is converted, a naive one is
    taken as UTC (workflow clocks are UTC). A time in the past wakes at once
    (the result is simply earlier than `now`). Anything else is a duration.
    """
    if isinstance(value, datetime):
        if value.tzinfo is None or value.utcoffset() is None:
            value = value.replace(tzinfo=UTC)
        return value.timestamp()
    return now + parse_duration(value)
