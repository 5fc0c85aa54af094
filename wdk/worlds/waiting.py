"""How a world waits for what another task or process writes.

    followers: Wakeups[str] = Wakeups()          # one Event per stream being followed
    followers.wake("wrun_1/default")             # a writer: wake that stream's followers
    return follow_stream(read, start, followers, "wrun_1/default", poll=lambda: 1.0)

A `Holders` registry keeps one value per key while anyone uses it (made for
the first holder, dropped after the last): the wake-up events of followed
streams, the per-run append locks. `follow_stream` is the one loop every
world follows a stream with: read a page, hand it out, and only when nothing
is new wait for a wake-up (or `poll()` seconds: another process may write).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Hashable, Iterator
from typing import Generic, TypeVar

from wdk.worlds.base import StreamChunk

__all__ = ["Holders", "Wakeups", "follow_stream", "wait_for_wakeup"]

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class Holders(Generic[K, V]):
    """One value per key while it is held (ref-counted)."""

    def __init__(self, make: Callable[[], V]) -> None:
        self._make = make
        self._entries: dict[K, tuple[V, list[int]]] = {}

    @contextlib.contextmanager
    def hold(self, key: K) -> Iterator[V]:
        entry = self._entries.get(key)
        if entry is None:
            entry = self._entries[key] = (self._make(), [0])
        value, users = entry
        users[0] += 1
        try:
            yield value
        finally:
            users[0] -= 1
            if users[0] == 0 and self._entries.get(key) is entry:
                del self._entries[key]

    def get(self, key: K) -> V | None:
        entry = self._entries.get(key)
        return None if entry is None else entry[0]

    def items(self) -> Iterator[tuple[K, V]]:
        return ((key, entry[0]) for key, entry in list(self._entries.items()))

    def __len__(self) -> int:
        return len(self._entries)


class Wakeups(Holders[K, asyncio.Event]):
    """Wake-up events of the keys someone waits on."""

    def __init__(self) -> None:
        super().__init__(asyncio.Event)

    def wake(self, key: K) -> None:
        event = self.get(key)
        if event is not None:
            event.set()

    def wake_where(self, matches: Callable[[K], bool]) -> None:
        for key, event in self.items():
            if matches(key):
                event.set()

    def wake_all(self) -> None:
        self.wake_where(lambda _key: True)


async def wait_for_wakeup(event: asyncio.Event, seconds: float) -> None:
    """Until `event` is set or `seconds` passed, whichever is first."""
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(max(seconds, 0.0)):
            await event.wait()


async def follow_stream(
    read: Callable[[int], Awaitable[tuple[list[StreamChunk], bool]]],
    start: int,
    followers: Wakeups[K],
    key: K,
    poll: Callable[[], float],
    *,
    first: Callable[[], Awaitable[object]] | None = None,
) -> AsyncIterator[StreamChunk]:
    """What `read(index)` gives from `start` on, in order, until the stream is
    closed; `followers.wake(key)` says something may be new. `first` runs
    once before the first read (the postgres world starts its LISTEN there)."""
    with followers.hold(key) as wakeup:
        if first is not None:
            await first()
        index = start
        while True:
            wakeup.clear()  # before the read: a wake-up during it is not missed
            chunks, closed = await read(index)
            for chunk in chunks:
                yield chunk
                index = chunk.index + 1
            if chunks:
                continue
            if closed:
                return
            await wait_for_wakeup(wakeup, poll())
