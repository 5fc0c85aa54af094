"""Conformance: output streams (append, read, close, follow)."""

from __future__ import annotations

import asyncio

import pytest
from world_support import add, ev, new_run

from wdk.errors import ConflictError, RunNotFound, StreamClosedError
from wdk.worlds import StreamChunk, StreamInfo, World


async def test_append_and_read_in_order(world: World) -> None:
    run = await new_run(world)
    assert await world.stream_read(run, "out") == ([], False)
    assert await world.stream_append(run, "out", [b"a", b"b"]) == 2
    assert await world.stream_append(run, "out", [b"c", b"d", b"e"]) == 5
    chunks, closed = await world.stream_read(run, "out")
    assert [(c.index, c.data) for c in chunks] == [
        (0, b"a"),
        (1, b"b"),
        (2, b"c"),
        (3, b"d"),
        (4, b"e"),
    ]
    assert not closed
    page, _ = await world.stream_read(run, "out", start=2, limit=2)
    assert [c.data for c in page] == [b"c", b"d"]


async def test_namespaces_are_separate(world: World) -> None:
    run = await new_run(world)
    await world.stream_append(run, "a", [b"1"])
    await world.stream_append(run, "b", [b"2", b"3"])
    assert [c.data for c in (await world.stream_read(run, "a"))[0]] == [b"1"]
    assert [c.index for c in (await world.stream_read(run, "b"))[0]] == [0, 1]


async def test_close(world: World) -> None:
    run = await new_run(world)
    await world.stream_append(run, "out", [b"x"])
    await world.stream_close(run, "out")
    chunks, closed = await world.stream_read(run, "out")
    assert closed and [c.data for c in chunks] == [b"x"]
    with pytest.raises(StreamClosedError):
        await world.stream_append(run, "out", [b"late"])
    await world.stream_close(run, "empty")
    assert await world.stream_read(run, "empty") == ([], True)
    assert [c async for c in world.stream_follow(run, "empty")] == []


async def test_list_streams(world: World) -> None:
    run = await new_run(world)
    assert await world.list_streams(run) == []
    await world.stream_append(run, "tokens", [b"a", b"b", b"c"])
    await world.stream_append(run, "progress", [b"1"])
    await world.stream_close(run, "progress")
    assert await world.list_streams(run) == [
        StreamInfo("progress", 1, True),
        StreamInfo("tokens", 3, False),
    ]


async def test_unknown_run(world: World) -> None:
    with pytest.raises(RunNotFound):
        await world.stream_append("nope", "out", [b"x"])
    with pytest.raises(RunNotFound):
        await world.stream_read("nope", "out")
    with pytest.raises(RunNotFound):
        await world.list_streams("nope")


async def test_follow_while_another_task_writes(world: World) -> None:
    run = await new_run(world)
    await world.stream_append(run, "out", [b"0"])

    async def producer() -> None:
        for i in range(1, 30):
            await world.stream_append(run, "out", [str(i).encode()])
            if i % 7 == 0:
                await asyncio.sleep(0.01)
        await world.stream_close(run, "out")

    async def consume() -> list[StreamChunk]:
        return [chunk async for chunk in world.stream_follow(run, "out")]

    got, _ = await asyncio.wait_for(asyncio.gather(consume(), producer()), timeout=10)
    assert [c.index for c in got] == list(range(30))
    assert [c.data for c in got] == [str(i).encode() for i in range(30)]


async def test_follow_from_an_index_over_many_pages(world: World) -> None:
    run = await new_run(world)
    chunks = [i.to_bytes(2, "big") for i in range(2500)]
    for start in range(0, len(chunks), 500):
        await world.stream_append(run, "big", chunks[start : start + 500])
    await world.stream_close(run, "big")
    got = [c async for c in world.stream_follow(run, "big", start=1000)]
    assert [c.index for c in got] == list(range(1000, 2500))
    assert [c.data for c in got] == chunks[1000:]


# --- rollbacks: an abandoned attempt's chunks (issue 8, item 5) -----------------


def _live(chunks: list[StreamChunk]) -> list[tuple[int, bytes]]:
    return [(c.index, c.data) for c in chunks if c.rollback is None]


async def test_rollback_hides_an_attempts_chunks_and_appends_a_marker(world: World) -> None:
    run = await new_run(world)
    await world.stream_append(run, "out", [b"a1", b"a2"], attempt="s#1.0")
    await world.stream_append(run, "out", [b"other"], attempt="t#1.0")  # a concurrent step
    await world.stream_append(run, "out", [b"a3"], attempt="s#1.0")
    await world.stream_append(run, "side", [b"x"], attempt="s#1.0")
    assert await world.stream_rollback(run, "s#1.0") == 4
    chunks, closed = await world.stream_read(run, "out")
    assert not closed
    # Indexes never move: the abandoned ones are gone, the marker takes the next index.
    assert chunks == [StreamChunk(2, b"other"), StreamChunk(4, b"", rollback=((0, 2), (3, 4)))]
    assert await world.stream_read(run, "side") == ([StreamChunk(1, b"", rollback=((0, 1),))], False)
    # The next attempt writes after the marker.
    assert await world.stream_append(run, "out", [b"b1"], attempt="s#2.0") == 6
    assert _live((await world.stream_read(run, "out", start=3))[0]) == [(5, b"b1")]
    assert [i.length for i in await world.list_streams(run)] == [6, 2]


async def test_rollback_is_idempotent_and_spares_other_runs(world: World) -> None:
    run, other = await new_run(world), await new_run(world)
    await world.stream_append(run, "out", [b"a"], attempt="s#1.0")
    await world.stream_append(other, "out", [b"a"], attempt="s#1.0")
    assert await world.stream_rollback(run, "s#1.0") == 1
    assert await world.stream_rollback(run, "s#1.0") == 0
    assert await world.stream_rollback(run, "never-wrote#1.0") == 0
    assert len((await world.stream_read(run, "out"))[0]) == 1  # one marker, not two
    assert await world.stream_read(other, "out") == ([StreamChunk(0, b"a")], False)
    with pytest.raises(RunNotFound):
        await world.stream_rollback("nope", "s#1.0")


async def test_untagged_chunks_are_never_rolled_back(world: World) -> None:
    run = await new_run(world)
    await world.stream_append(run, "out", [b"client"])
    await world.stream_rollback(run, "s#1.0")
    assert await world.stream_read(run, "out") == ([StreamChunk(0, b"client")], False)


async def test_writes_and_close_of_a_rolled_back_attempt_stay_hidden(world: World) -> None:
    """A worker that lost its step (a frozen process that wakes up) keeps
    writing under its old attempt: none of it reaches a reader."""
    run = await new_run(world)
    await world.stream_append(run, "out", [b"a"], attempt="s#1.0")
    await world.stream_rollback(run, "s#1.0")
    assert await world.stream_append(run, "out", [b"zombie"], attempt="s#1.0") == 3
    await world.stream_close(run, "out", attempt="s#1.0")
    await world.stream_close(run, "fresh", attempt="s#1.0")
    chunks, closed = await world.stream_read(run, "out")
    assert [c.index for c in chunks] == [1] and chunks[0].rollback == ((0, 1),)
    assert not closed
    assert await world.stream_read(run, "fresh") == ([], False)
    await world.stream_append(run, "out", [b"b"], attempt="s#2.0")
    assert _live((await world.stream_read(run, "out"))[0]) == [(3, b"b")]


async def test_rollback_reopens_a_stream_its_attempt_closed(world: World) -> None:
    run = await new_run(world)
    await world.stream_append(run, "mine", [b"a"], attempt="s#1.0")
    await world.stream_close(run, "mine", attempt="s#1.0")
    await world.stream_append(run, "theirs", [b"t"], attempt="t#1.0")
    await world.stream_close(run, "theirs", attempt="t#1.0")
    await world.stream_close(run, "client")
    await world.stream_rollback(run, "s#1.0")
    assert (await world.stream_read(run, "mine"))[1] is False
    assert (await world.stream_read(run, "theirs"))[1] is True
    assert (await world.stream_read(run, "client"))[1] is True
    await world.stream_append(run, "mine", [b"b"], attempt="s#2.0")
    await world.stream_close(run, "mine", attempt="s#2.0")
    chunks, closed = await world.stream_read(run, "mine")
    assert closed and [(c.index, c.rollback) for c in chunks] == [(1, ((0, 1),)), (2, None)]


async def test_a_follower_sees_chunks_then_the_marker_then_the_retry(world: World) -> None:
    run = await new_run(world)
    follower = world.stream_follow(run, "out")
    await world.stream_append(run, "out", [b"a1", b"a2"], attempt="s#1.0")
    got = [await asyncio.wait_for(anext(follower), 10) for _ in range(2)]
    await world.stream_rollback(run, "s#1.0")
    await world.stream_append(run, "out", [b"b1"], attempt="s#2.0")
    await world.stream_close(run, "out", attempt="s#2.0")
    got += [c async for c in follower]
    assert got == [
        StreamChunk(0, b"a1"),
        StreamChunk(1, b"a2"),
        StreamChunk(2, b"", rollback=((0, 2),)),
        StreamChunk(3, b"b1"),
    ]


async def test_writing_to_a_closed_stream_is_a_stream_closed_error(world: World) -> None:
    run = await new_run(world)
    await world.stream_close(run, "out")
    with pytest.raises(StreamClosedError) as info:
        await world.stream_append(run, "out", [b"late"], attempt="s#1.0")
    assert run in str(info.value) and "'out'" in str(info.value)
    assert not isinstance(info.value, ConflictError)


# --- streams end with their run ----------------------------------------------------


@pytest.mark.parametrize("end", ["run_completed", "run_failed", "run_cancelled"])
async def test_a_terminal_run_closes_every_stream(world: World, end: str) -> None:
    run = await new_run(world, started=True)
    await world.stream_append(run, "open", [b"a"], attempt="s#1.0")
    await add(world, run, ev(end, **({"error": {"message": "x"}} if end == "run_failed" else {})))
    assert await world.stream_read(run, "open") == ([StreamChunk(0, b"a")], True)
    # A namespace nobody wrote is over too: a reader of it must not wait forever.
    assert await world.stream_read(run, "never-written") == ([], True)
    assert [c async for c in world.stream_follow(run, "never-written")] == []
    assert [i.closed for i in await world.list_streams(run)] == [True]
    with pytest.raises(StreamClosedError):
        await world.stream_append(run, "open", [b"late"])
    with pytest.raises(StreamClosedError):
        await world.stream_append(run, "new", [b"late"])


async def test_followers_of_a_live_stream_end_when_the_run_ends(world: World) -> None:
    run = await new_run(world, started=True)
    await world.stream_append(run, "out", [b"a"])

    async def follow(namespace: str) -> list[bytes]:
        return [c.data async for c in world.stream_follow(run, namespace)]

    readers = [asyncio.ensure_future(follow(ns)) for ns in ("out", "out", "unwritten")]
    await asyncio.sleep(0)  # let them start following
    assert not any(r.done() for r in readers)
    await add(world, run, ev("run_completed", result=None))
    got = await asyncio.wait_for(asyncio.gather(*readers), timeout=10)
    assert got == [[b"a"], [b"a"], []]
