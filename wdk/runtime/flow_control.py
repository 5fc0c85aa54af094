"""Flow-control declarations: how many at once, how many per period.

    charge.concurrency = wdk.Concurrency(5)                          # 5 at once, cluster-wide
    charge.rate_limit = wdk.RateLimit(100, per="1m")                 # 100 starts a minute
    sync_customer.concurrency = wdk.Concurrency(1, key=lambda c: c.id)  # one at a time per customer

Set on steps (an attempt holds a slot while it executes) and on workflows (a
run holds one while a worker advances it: a run asleep or waiting on a hook
holds none), as attributes or through `step_options(concurrency=...,
rate_limit=...)`. A value may also be a list of several. A declaration is
resolved against the call's arguments into `Limit`s (the key computed once),
and those are recorded in the call's event (`step_started`, `run_created`),
so what a call waited for stays in the log. `wdk.runtime.limiter` enforces them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import msgspec

from wdk.durations import Duration, parse_duration

__all__ = ["Concurrency", "Limit", "RateLimit", "declared", "from_payload", "limits_payload", "resolve"]

ATTRIBUTES = ("concurrency", "rate_limit")
# Each slot or token is a queue message: a limit this large is really "no limit".
MAX_LIMIT = 10_000


@dataclass(frozen=True)
class Concurrency:
    """At most `limit` executions at once, across every worker sharing the
    world; with `key` (a function of the call's arguments), at most `limit`
    per key value: `Concurrency(1, key=lambda order: order.customer_id)`."""

    limit: int
    key: Callable[..., Any] | None = None

    def __post_init__(self) -> None:
        if isinstance(self.limit, bool) or not isinstance(self.limit, int) or not 1 <= self.limit <= MAX_LIMIT:
            raise ValueError(f"Concurrency(limit) must be an int from 1 to {MAX_LIMIT}, not {self.limit!r}")
        if self.key is not None and not callable(self.key):
            raise TypeError(f"Concurrency(key=...) must be a function of the call's arguments, not {self.key!r}")


@dataclass(frozen=True)
class RateLimit:
    """At most `limit` starts in any window of `per` (a duration: "1s", "1m",
    seconds), across every worker; excess work waits, in order, never dropped.
    With `key`, per key value."""

    limit: int
    per: Duration
    key: Callable[..., Any] | None = None

    def __post_init__(self) -> None:
        if isinstance(self.limit, bool) or not isinstance(self.limit, int) or not 1 <= self.limit <= MAX_LIMIT:
            raise ValueError(f"RateLimit(limit) must be an int from 1 to {MAX_LIMIT}, not {self.limit!r}")
        if self.seconds <= 0:
            raise ValueError(f"RateLimit(per=...) must be a positive duration, not {self.per!r}")
        if self.key is not None and not callable(self.key):
            raise TypeError(f"RateLimit(key=...) must be a function of the call's arguments, not {self.key!r}")

    @property
    def seconds(self) -> float:
        return parse_duration(self.per)


class Limit(msgspec.Struct, frozen=True):
    """One declaration resolved for one call: what it waits for (recorded)."""

    kind: Literal["concurrency", "rate"]
    scope: str  # the step or workflow id
    limit: int
    key: str | None = None
    per: float = 0.0

    @property
    def queue(self) -> str:
        """The world queue whose messages are this limit's slots (or tokens)."""
        return f"wdk.{self.kind}:{self.scope}:{'' if self.key is None else self.key}"


def declared(fn: Any) -> list[Concurrency | RateLimit]:
    """The declarations set on `fn` (none: the common case, checked cheaply)."""
    found: list[Concurrency | RateLimit] = []
    for name in ATTRIBUTES:
        value = getattr(fn, name, None)
        if value is None:
            continue
        for item in value if isinstance(value, (list, tuple)) else (value,):
            if not isinstance(item, (Concurrency, RateLimit)):
                raise TypeError(f"{name} must be wdk.Concurrency(...) or wdk.RateLimit(...), not {item!r}")
            found.append(item)
    return found


def resolve(fn: Any, scope: str, args: Sequence[Any], kwargs: dict[str, Any]) -> list[Limit]:
    """`fn`'s declarations for a call with these arguments (keys computed now)."""
    limits: list[Limit] = []
    for item in declared(fn):
        key = None if item.key is None else str(item.key(*args, **kwargs))
        if isinstance(item, Concurrency):
            limits.append(Limit("concurrency", scope, item.limit, key))
        else:
            limits.append(Limit("rate", scope, item.limit, key, item.seconds))
    return limits


def limits_payload(limits: Sequence[Limit]) -> list[dict[str, Any]]:
    """How limits are recorded in an event's payload."""
    return [msgspec.to_builtins(x) for x in limits]


def from_payload(items: Any) -> list[Limit]:
    """The limits an event's payload recorded."""
    if not items:
        return []  # most runs have none; msgspec.convert costs microseconds even for []
    return msgspec.convert(items, list[Limit])
