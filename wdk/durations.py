"""Durations as users write them: `sleep("1h30m")`, `retry_after="10s"`,
`@step_options(timeout="30s")`. Pure: the compiler checks literal durations
with it too (the runtime's wake times are in `wdk.runtime.durations`).

Grammar of a duration string: one or more `<number><unit>` parts, summed, in
any order; whitespace is allowed around and between parts and between a
number and its unit ("1h 30m", "10 s"). Numbers are decimal ("1.5h", ".5s").
Units are case-insensitive: ms/msec/millisecond(s), s/sec/secs/second(s),
m/min/mins/minute(s), h/hr/hrs/hour(s), d/day(s), w/wk/week(s). A bare number
("90") means seconds, as ints and floats do. Months and years are not accepted:
their length depends on the calendar, so pass a `datetime` instead.
"""

from __future__ import annotations

import math
import re
from datetime import timedelta

__all__ = ["Duration", "parse_duration"]

_UNITS: dict[str, float] = {}
for _names, _seconds in (
    (("ms", "msec", "msecs", "millisecond", "milliseconds"), 0.001),
    (("s", "sec", "secs", "second", "seconds"), 1.0),
    (("m", "min", "mins", "minute", "minutes"), 60.0),
    (("h", "hr", "hrs", "hour", "hours"), 3600.0),
    (("d", "day", "days"), 86400.0),
    (("w", "wk", "wks", "week", "weeks"), 604800.0),
):
    _UNITS.update(dict.fromkeys(_names, _seconds))

_NUMBER = r"(?:\d+(?:\.\d*)?|\.\d+)"
_PART = re.compile(rf"\s*({_NUMBER})\s*([a-z]+)\s*")
_BARE = re.compile(rf"\s*({_NUMBER})\s*")
_FORMS = (
    '"10s", "500ms", "5m", "1.5h", "3d", "2w", "1h30m", "1h 30m", a number of seconds, '
    "or a timedelta"
)

Duration = str | int | float | timedelta


def parse_duration(value: Duration) -> float:
    """Seconds in `value`: a duration string, a number of seconds or a timedelta.

    >>> parse_duration("1h30m"), parse_duration("500ms"), parse_duration(90)
    (5400.0, 0.5, 90.0)
    """
    if isinstance(value, bool) or not isinstance(value, str | int | float | timedelta):
        raise TypeError(f"a duration must be {_FORMS}; got {type(value).__name__} {value!r}")
    if isinstance(value, timedelta):
        seconds = value.total_seconds()
    elif isinstance(value, str):
        seconds = _parse_text(value)
    else:
        seconds = float(value)
    if not math.isfinite(seconds):
        raise ValueError(f"duration {value!r} is not finite; accepted: {_FORMS}")
    if seconds < 0:
        raise ValueError(f"duration {value!r} is negative; accepted: {_FORMS}")
    return seconds


def _parse_text(text: str) -> float:
    lowered = text.lower()
    bare = _BARE.fullmatch(lowered)
    if bare:
        return float(bare.group(1))
    total, pos, why = 0.0, 0, ""
    while pos < len(lowered):
        part = _PART.match(lowered, pos)
        if part is None:
            break
        if part.group(2) not in _UNITS:
            why = f" (unknown unit {part.group(2)!r}; units: ms, s, m, h, d, w)"
            break
        total += float(part.group(1)) * _UNITS[part.group(2)]
        pos = part.end()
    if pos == 0 or pos < len(lowered):
        if lowered.strip().startswith("-"):
            why = " (negative durations are not allowed)"
        raise ValueError(f"cannot parse duration {text!r}{why}; accepted: {_FORMS}")
    return total
