"""Waits end with their run: a timer that is not the workflow's (a library's
that the sandbox refuses) never becomes a wait, and when a run ends -- done,
failed or cancelled -- none of its waits is left "waiting"."""

from __future__ import annotations

import asyncio
import time

import pytest
from flows import basic, timers

from wdk import WorkflowFailed
from wdk.api import Run, start
from wdk.runtime.engine import get_runtime


async def _waits(run: Run) -> list[str]:
    rt = await get_runtime()
    return [w.status for w in await rt.world.list_waits(run.id)]


async def test_a_refused_librarys_timers_never_become_waits() -> None:
    # aiohttp's request timeouts were recorded as two waits before its socket
    # call was refused, and stayed "waiting" for ever.
    run = await start(timers.checks_url, "http://127.0.0.1:9/")
    with pytest.raises(WorkflowFailed) as info:
        await run.result(timeout=10)
    assert info.value.error_type == "WorkflowSandboxError"
    message = info.value.message
    assert message.startswith("aiohttp.") and "set a timer in a workflow" in message
    assert "called from fetch_status (" in message and "net_helpers.py:" in message
    assert 'into a "use step" function' in message
    assert "passthrough" not in message
    assert await _waits(run) == []
    assert "wait_created" not in [e.type for e in await run.events()]


async def test_a_helpers_own_sleep_is_still_a_durable_wait() -> None:
    run = await start(timers.pauses_in_a_helper, 0.05)
    assert await run.result(timeout=10) == 0.05
    assert await _waits(run) == ["completed"]


async def test_a_cancelled_runs_sleep_is_cancelled() -> None:
    run = await start(basic.sleeps_long)
    deadline = time.monotonic() + 10
    while await _waits(run) != ["waiting"]:
        assert time.monotonic() < deadline, "the run never slept"
        await asyncio.sleep(0.02)
    await run.cancel()
    assert await _waits(run) == ["cancelled"]


async def test_a_failed_runs_pending_sleep_is_cancelled() -> None:
    run = await start(timers.fails_while_sleeping)
    with pytest.raises(WorkflowFailed) as info:
        await run.result(timeout=10)
    assert info.value.error_type == "FatalError"
    assert await _waits(run) == ["cancelled"]
