"""The waiting code both worlds share: ref-counted holders, and following a stream."""

from __future__ import annotations

import asyncio

from wdk.worlds.base import StreamChunk
from wdk.worlds.waiting import Holders, Wakeups, follow_stream


def test_a_held_value_is_shared_and_dropped_after_its_last_holder() -> None:
    locks: Holders[str, asyncio.Lock] = Holders(asyncio.Lock)
    with locks.hold("wrun_a") as first, locks.hold("wrun_a") as second, locks.hold("wrun_b") as other:
        assert first is second and first is not other
        assert len(locks) == 2
    assert len(locks) == 0 and locks.get("wrun_a") is None
    with locks.hold("wrun_a") as again:
        assert again is not first  # a new one: nobody held the old one any more


async def test_following_reads_pages_then_waits_for_a_wakeup_until_closed() -> None:
    chunks: list[StreamChunk] = []
    closed = False
    reads: list[int] = []

    async def read(index: int) -> tuple[list[StreamChunk], bool]:
        reads.append(index)
        return [c for c in chunks if c.index >= index][:2], closed

    followers: Wakeups[str] = Wakeups()
    chunks += [StreamChunk(0, b"a"), StreamChunk(1, b"b"), StreamChunk(2, b"c")]
    got: list[bytes] = []

    async def follow() -> None:
        async for chunk in follow_stream(read, 1, followers, "wrun/default", poll=lambda: 60.0):
            got.append(chunk.data)

    task = asyncio.ensure_future(follow())
    deadline = asyncio.get_running_loop().time() + 10
    while reads[-1:] != [3]:  # caught up: it waits now (a minute of poll: only a wake-up ends it)
        assert asyncio.get_running_loop().time() < deadline
        await asyncio.sleep(0.01)
    assert got == [b"b", b"c"] and len(followers) == 1
    chunks.append(StreamChunk(3, b"d"))
    closed = True
    followers.wake("wrun/default")
    await asyncio.wait_for(task, 10)
    assert got == [b"b", b"c", b"d"]
    assert len(followers) == 0  # the follower let go of its wake-up
    followers.wake("wrun/default")  # nobody follows it: nothing to wake, no error
