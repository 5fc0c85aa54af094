"""A per-client limit on wrong webhook tokens: guessing answers 429.

    guesses = GuessLimit(per_minute=30)
    if (wait := guesses.wait(client)) is not None: ...   # 429, Retry-After: wait
    guesses.miss(client)                                   # after a 404

Only misses count, so a client that sends many requests to real webhooks is
never slowed; a client out of guesses is refused on every webhook URL until
its bucket refills (refusing only misses would still tell it which guess
hit). A client is the peer address: behind a proxy every client is the
proxy (docs/security.md).
"""

from __future__ import annotations

import time
from collections import OrderedDict

__all__ = ["GuessLimit"]

MAX_CLIENTS = 10_000  # buckets kept; the least recently used go first


class GuessLimit:
    """A token bucket per client: `per_minute` misses, refilled evenly over a minute."""

    def __init__(self, per_minute: int) -> None:
        self.capacity = float(max(per_minute, 1))
        self.rate = self.capacity / 60.0
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()  # client -> (tokens, at)

    def _level(self, client: str, now: float) -> float:
        tokens, at = self._buckets.get(client, (self.capacity, now))
        return min(self.capacity, tokens + (now - at) * self.rate)

    def wait(self, client: str, now: float | None = None) -> float | None:
        """Seconds until `client` may try again, or None when it may now."""
        now = time.monotonic() if now is None else now
        level = self._level(client, now)
        return None if level >= 1.0 else (1.0 - level) / self.rate

    def miss(self, client: str, now: float | None = None) -> None:
        now = time.monotonic() if now is None else now
        self._buckets[client] = (self._level(client, now) - 1.0, now)
        self._buckets.move_to_end(client)
        while len(self._buckets) > MAX_CLIENTS:
            self._buckets.popitem(last=False)
