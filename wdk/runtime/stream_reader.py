"""Reading a run's stream when step attempts can be rolled back.

A step attempt that fails or dies has its chunks rolled back: the world hides
them and appends a rollback marker listing their indexes (indexes never move).
Every reader -- `Run.stream()`, NDJSON, SSE -- applies one rule here: deliver
each chunk the world returns, and a marker only to a reader that may have
shown some of the chunks it takes back (it delivered one on this read, or
the marker lists an index before the reader's `start`, which an earlier read
may have shown). So a reader that starts after a rollback never hears of
the abandoned attempt, and one that saw its chunks is told to erase them.

    stream = run.stream()
    async for item in stream:
        if isinstance(item, StreamRollback):
            for i in item.indexes: shown.pop(i, None)
        else:
            shown[stream.index] = item
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from wdk.runtime import serde
from wdk.worlds.base import StreamChunk


@dataclass(frozen=True)
class StreamRollback:
    """Yielded by `Run.stream()` in place of chunks it already gave you that a
    failed or crashed step attempt wrote: erase the chunks at `indexes`.
    `index` is the marker's own place in the stream; `ranges` are [start, stop)."""

    index: int
    ranges: tuple[tuple[int, int], ...]

    @property
    def indexes(self) -> tuple[int, ...]:
        return tuple(i for start, stop in self.ranges for i in range(start, stop))

    def __contains__(self, index: object) -> bool:
        return isinstance(index, int) and any(start <= index < stop for start, stop in self.ranges)

    def to_json(self) -> dict[str, Any]:
        """The marker on the wire: NDJSON adds `"$wdk": "rollback"`, SSE sends it as `event: rollback`."""
        return {"index": self.index, "ranges": [list(r) for r in self.ranges]}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> StreamRollback:
        return cls(int(data["index"]), tuple((int(a), int(b)) for a, b in data["ranges"]))



class ReadFilter:
    """One reader's view: which chunks and markers to deliver, and where it stands."""

    def __init__(self, start: int) -> None:
        self.start = start
        self.next_index = start  # where a resumed read would start
        # Index ranges delivered on this read, coalesced: [[start, stop), ...]
        self._delivered: list[list[int]] = []

    @property
    def delivered_to(self) -> int:
        """One past the last index delivered (`start` before any): where a
        reader counting what it got believes it stands."""
        return self._delivered[-1][1] if self._delivered else self.start

    def admit(self, chunk: StreamChunk) -> bool:
        """Whether to deliver `chunk` (the world never returns abandoned ones)."""
        index = chunk.index
        self.next_index = index + 1
        if chunk.rollback is not None and not self._may_have_shown(chunk.rollback):
            return False
        delivered = self._delivered
        if delivered and delivered[-1][1] == index:
            delivered[-1][1] = index + 1
        else:
            delivered.append([index, index + 1])
        return True

    def admit_plain(self, chunks: list[StreamChunk]) -> bool:
        """Admit a whole page at once when it has no marker and no hole (True);
        else admit nothing (False: go chunk by chunk)."""
        first, last = chunks[0].index, chunks[-1].index
        if last - first != len(chunks) - 1 or any(c.rollback is not None for c in chunks):
            return False
        self.next_index = last + 1
        prev = self._delivered[-1] if self._delivered else None
        if prev is not None and prev[1] == first:
            prev[1] = last + 1
        else:
            self._delivered.append([first, last + 1])
        return True

    def _may_have_shown(self, ranges: tuple[tuple[int, int], ...]) -> bool:
        for start, stop in ranges:
            if start < self.start:
                return True
            for done_start, done_stop in self._delivered:
                if start < done_stop and done_start < stop:
                    return True
        return False


def decode(chunk: StreamChunk) -> Any:
    """What a reader yields for a chunk the filter admitted: its value, or a StreamRollback."""
    if chunk.rollback is not None:
        return StreamRollback(chunk.index, chunk.rollback)
    return serde.loads(chunk.data)


class RunStream:
    """What `Run.stream()` returns: an async iterator of the stream's values and
    `StreamRollback` markers. `index` is the index of the item just yielded;
    `next_index` is where `run.stream(start=...)` resumes after it.

    Its source is a world's `stream_follow` (filtered here, chunk by chunk: a
    class, not a generator, as that is the per-chunk path), or already
    filtered (index, item) pairs (`RunStream.of_pairs`, the HTTP client)."""

    def __init__(
        self,
        source: AsyncIterator[StreamChunk] | Callable[[], Awaitable[AsyncIterator[StreamChunk]]],
        start: int,
    ) -> None:
        # A callable opens the world's follower on first use (it needs an await).
        self._open = None if isinstance(source, AsyncIterator) else source
        self._chunks: AsyncIterator[StreamChunk] | None = source if isinstance(source, AsyncIterator) else None
        self._pairs: AsyncIterator[tuple[int, Any]] | None = None
        self._view = ReadFilter(start)
        self.index: int | None = None
        self.next_index = start

    def rebase(self, start: int) -> None:
        """Start at `start` after all (a negative start resolved on first use)."""
        self._view = ReadFilter(start)
        self.next_index = start

    @classmethod
    def of_pairs(cls, source: AsyncIterator[tuple[int, Any]], start: int) -> RunStream:
        stream = cls(_nothing(), start)
        stream._pairs = source
        return stream

    def __aiter__(self) -> RunStream:
        return self

    async def __anext__(self) -> Any:
        if self._pairs is not None:
            index, item = await anext(self._pairs)
            self.index, self.next_index = index, index + 1
            return item
        if self._chunks is None:
            assert self._open is not None
            self._chunks, self._open = await self._open(), None
        while True:
            chunk = await anext(self._chunks)
            if self._view.admit(chunk):
                self.index, self.next_index = chunk.index, chunk.index + 1
                return decode(chunk)

    async def aclose(self) -> None:
        aclose = getattr(self._pairs or self._chunks, "aclose", None)
        if aclose is not None:
            await aclose()


async def _nothing() -> AsyncIterator[StreamChunk]:
    return
    yield  # an async generator that yields nothing
