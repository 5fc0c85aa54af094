"""Streams: steps write, clients read live and resume from an index."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import AsyncIterator
from pathlib import Path

import e2e_support
import pytest
from e2e_support import child_env, start_in_child, wait_runs, workers
from flows import streaming

from wdk import StreamRollback, WorkflowFailed
from wdk.api import Run, get_run, start
from wdk.runtime import serde


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


# --- issue 8 item 5: streams across retries, crashes and close -----------------


async def _started_attempts(run: Run) -> list[int]:
    return [e.payload["attempt"] for e in await run.events() if e.type == "step_started"]


async def test_close_commits_what_another_writer_of_the_stream_wrote() -> None:
    run = await start(streaming.two_writers)
    assert await run.result(timeout=10) == "closed"
    assert [c async for c in run.stream()] == ["a", "b"]
    assert await _started_attempts(run) == [1]


async def test_writing_to_a_closed_stream_fails_the_step_without_retrying() -> None:
    run = await start(streaming.writes_after_close)
    with pytest.raises(WorkflowFailed) as info:
        await run.result(timeout=10)
    assert info.value.error_type == "StreamClosedError"
    assert run.id in info.value.message and "'notes'" in info.value.message
    assert await _started_attempts(run) == [1]
    # The failed attempt's output is rolled back; the stream ended with the run.
    assert [c async for c in run.stream("notes")] == []


async def test_a_live_reader_is_told_to_erase_a_failed_attempts_chunks() -> None:
    gate = "live-reader"
    streaming.GATES[gate] = asyncio.Event()
    try:
        run = await start(streaming.retried_story, gate)
        stream = run.stream()
        got: list[object] = []
        indexes: list[int | None] = []
        async with asyncio.timeout(20):
            async for item in stream:
                got.append(item)
                indexes.append(stream.index)
                if len(got) == len(streaming.ATTEMPT_1):
                    streaming.GATES[gate].set()  # now let attempt 1 fail
    finally:
        streaming.GATES.pop(gate, None)
    marker = StreamRollback(3, ((0, 3),))
    assert got == [*streaming.ATTEMPT_1, marker, *streaming.ATTEMPT_2]
    assert indexes == list(range(8))
    assert marker.indexes == (0, 1, 2) and 2 in marker and 3 not in marker
    assert await run.result(timeout=10) == "shipped"
    assert await _started_attempts(run) == [1, 2]


async def test_a_late_reader_never_sees_an_abandoned_attempt() -> None:
    run = await start(streaming.retried_story, "no-gate")
    assert await run.result(timeout=10) == "shipped"
    late = run.stream()
    assert [c async for c in late] == streaming.ATTEMPT_2
    assert late.next_index == 8
    # Indexes never move: a reader resuming where attempt 1 stood is told to erase
    # what it may have shown; one resuming in attempt 2's output just goes on.
    assert [c async for c in run.stream(start=2)] == [StreamRollback(3, ((0, 3),)), *streaming.ATTEMPT_2]
    assert [c async for c in run.stream(start=6)] == streaming.ATTEMPT_2[2:]


async def test_streams_end_when_their_run_ends() -> None:
    gate = "never-closes"
    streaming.GATES[gate] = asyncio.Event()
    try:
        run = await start(streaming.never_closes, 3, gate)
        stream = run.stream()
        first = [await asyncio.wait_for(anext(stream), 10) for _ in range(3)]
        unwritten = asyncio.ensure_future(_read_all(run, "never-written"))
        assert await run.status() == "running"
        streaming.GATES[gate].set()
        rest = await asyncio.wait_for(_drain(stream), 10)
        assert await asyncio.wait_for(unwritten, 10) == []
    finally:
        streaming.GATES.pop(gate, None)
    assert first == [0, 1, 2] and rest == []
    assert await run.result(timeout=10) == 3
    # Readers that start after the end do not wait either.
    assert await asyncio.wait_for(_read_all(run, None), 10) == [0, 1, 2]
    assert await asyncio.wait_for(_read_all(run, "never-written"), 10) == []


async def _read_all(run: Run, namespace: str | None) -> list[object]:
    return [c async for c in run.stream(namespace)]


async def _drain(stream: AsyncIterator[object]) -> list[object]:
    return [c async for c in stream]


async def test_chunks_of_an_attempt_killed_mid_stream_are_rolled_back(
    data_dir: Path, tmp_path: Path, subprocess_env: dict[str, str]
) -> None:
    env = child_env(subprocess_env, CRASHY_MARKER=str(tmp_path / "crashed"))
    child = start_in_child(data_dir, "flows.streaming:crashes_mid_stream", [], env)
    assert child.status == -signal.SIGKILL, child.stderr
    # The dead attempt's chunks are committed: a reader now would see them.
    world = e2e_support.create_world("local", data_dir=data_dir)
    await world.open()
    try:
        chunks, closed = await world.stream_read(child.run_id, "default")
        assert [serde.loads(c.data) for c in chunks] == streaming.ATTEMPT_1 and not closed
        with workers(data_dir, env, tmp_path):
            runs = await wait_runs(data_dir, [child.run_id])
        assert runs[child.run_id].status == "completed", runs[child.run_id].error
        # Attempt 1's chunks are hidden behind a marker; attempt 2 wrote after it.
        chunks, closed = await world.stream_read(child.run_id, "default")
        assert closed and [c.index for c in chunks] == [3, 4, 5, 6, 7]
        assert chunks[0].rollback == ((0, 3),)
    finally:
        await world.close()
    late = get_run(child.run_id).stream()
    assert [c async for c in late] == streaming.ATTEMPT_2


async def test_writing_to_a_stream_another_step_closed_is_not_retried() -> None:
    run = await start(streaming.closes_then_writes)
    with pytest.raises(WorkflowFailed) as info:
        await run.result(timeout=10)
    assert info.value.error_type == "StreamClosedError" and "'notes'" in info.value.message
    assert await _started_attempts(run) == [1, 1]  # close_notes once, write_notes once


async def test_a_retry_may_write_to_a_stream_its_failed_attempt_closed() -> None:
    run = await start(streaming.closes_then_retries)
    assert await run.result(timeout=10) == "done"
    assert [c async for c in run.stream()] == ["draft 2"]
    assert await _started_attempts(run) == [1, 2]
