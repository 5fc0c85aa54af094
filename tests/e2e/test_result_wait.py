"""`result()` of a run this process advances: its end wakes the waiter, which
takes the result from the terminal event this process committed (no read of
the run's row), and is not left to the slow poll when the run ends some
other way (POLL_SECONDS is an hour here: a missed wake-up shows as a
timeout, not as a slower test)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from flows import basic

from wdk import WorkflowCancelled, WorkflowFailed
from wdk.api import start
from wdk.runtime import engine as runtime_mod
from wdk.runtime import runs
from wdk.runtime.engine import get_runtime


@pytest.fixture(autouse=True)
def no_slow_poll(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(runtime_mod, "POLL_SECONDS", 3600.0)


async def test_result_of_a_run_ended_here_reads_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    rt = await get_runtime()
    warm = await start(basic.one_step, 1, 2)
    assert await warm.result(timeout=30) == 3
    reads: list[str] = []
    real = type(rt.world).get_run

    async def counted(self: Any, run_id: str) -> Any:
        reads.append(run_id)
        return await real(self, run_id)

    monkeypatch.setattr(type(rt.world), "get_run", counted)
    run = await start(basic.one_step, 2, 3)
    assert await asyncio.wait_for(run.result(), 10) == 5
    assert reads == []
    # Once its task has ended, the run is read again: the row says the same.
    await _task_ended(rt, run.id)
    assert await run.result() == 5
    assert reads == [run.id]


async def _task_ended(rt: runtime_mod.Runtime, run_id: str) -> None:
    task = rt._active.get(run_id)
    if task is not None:
        await asyncio.gather(task, return_exceptions=True)


@pytest.mark.parametrize(
    ("flow", "args"),
    [(basic.order_flow, (basic.Order("o1", ["a"]),)), (basic.deterministic, ()), (basic.fails_fatally, ())],
)
async def test_a_recorded_end_gives_what_the_row_gives(flow: Any, args: tuple[Any, ...]) -> None:
    # The result taken from the committed event (no read) against the one
    # read from the run's row after the run's task ended.
    rt = await get_runtime()
    run = await start(flow, *args)

    async def outcome() -> tuple[str, Any]:
        try:
            return "ok", await asyncio.wait_for(run.result(), 10)
        except WorkflowFailed as exc:
            return "failed", (exc.run_id, exc.error_type, exc.message, exc.traceback_text)

    recorded = await outcome()
    await _task_ended(rt, run.id)
    row = await rt.world.get_run(run.id)
    assert row is not None
    try:
        read: tuple[str, Any] = ("ok", runs.outcome(row))
    except WorkflowFailed as exc:
        read = ("failed", (exc.run_id, exc.error_type, exc.message, exc.traceback_text))
    assert recorded == read
    assert recorded[0] == ("failed" if flow is basic.fails_fatally else "ok")


async def test_result_of_a_run_that_sleeps_before_its_step() -> None:
    # The first advance ends with the run asleep: the waiter reads it (not
    # ended), and the later advance that ends it wakes the waiter.
    run = await start(basic.sleeper, 0.2)
    assert await asyncio.wait_for(run.result(), 10) >= 0.2


async def test_result_wakes_when_another_writer_cancels_the_run(monkeypatch: pytest.MonkeyPatch) -> None:
    # Cancelled by a plain append (as another process would), not through
    # this runtime: its in-flight check ends the advance, and the end of the
    # run's task wakes the waiter, which reads the run cancelled.
    monkeypatch.setattr(runtime_mod, "CANCEL_CHECK_SECONDS", 0.05)
    rt = await get_runtime()
    run = await start(basic.long_running)
    waiter = asyncio.ensure_future(run.result())
    while (await rt.world.get_run(run.id)).status != "running":  # type: ignore[union-attr]
        await asyncio.sleep(0.01)
    assert await runs.cancel_run(rt.world, run.id)
    with pytest.raises(WorkflowCancelled):
        await asyncio.wait_for(waiter, 10)
