"""Conformance: output streams (append, read, close, follow)."""

from __future__ import annotations

import asyncio

import pytest
from world_support import new_run

from wdk.errors import RunNotFound, WorldError
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
    with pytest.raises(WorldError):
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
