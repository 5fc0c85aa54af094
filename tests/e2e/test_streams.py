"""Streams: steps write, clients read live and resume from an index."""

from __future__ import annotations

import asyncio

from flows import streaming

from wdk.api import start


async def test_read_while_written_then_resume_from_index() -> None:
    run = await start(streaming.tokens, 20, 0.005)
    got: list[object] = []
    async for chunk in run.stream():
        got.append(chunk)
        if len(got) == 7:
            break  # a client disconnects mid-stream ...
    assert got == [{"i": i} for i in range(7)]
    rest = [c async for c in run.stream(start=7)]  # ... and resumes from index 7
    assert rest == [{"i": i} for i in range(7, 20)]
    assert await run.result(timeout=10) == 20


async def test_writer_passed_from_workflow_to_step() -> None:
    run = await start(streaming.passes_writer, ["a", "b", "c"])
    assert await run.result(timeout=10) == "ok"
    assert [c async for c in run.stream("words")] == ["a", "b", "c"]


async def test_many_chunks_are_batched() -> None:
    run = await start(streaming.tokens, 5000, 0)
    assert await run.result(timeout=30) == 5000
    count = 0
    async for chunk in run.stream():
        assert chunk == {"i": count}
        count += 1
    assert count == 5000


async def test_live_reader_sees_first_chunk_before_step_ends() -> None:
    run = await start(streaming.tokens, 3, 0.3)
    stream = run.stream()
    first = await asyncio.wait_for(stream.__anext__(), 5)
    assert first == {"i": 0}
    assert await run.status() == "running"
    await stream.aclose()
    await run.result(timeout=10)
