"""Conformance: the events of safe deploys (docs/deploys.md) -- a run
blocked and unblocked, a patch marker, and a failed run continued by
`wdk retry` -- and what they do to the projections."""

from __future__ import annotations

import pytest
from world_support import add, ev, new_run

from wdk.errors import ConflictError
from wdk.worlds import World


async def test_blocked_and_unblocked_move_the_status_and_keep_the_run_live(world: World) -> None:
    run = await new_run(world, started=True)
    await add(world, run, ev("hook_created", "h1", token="tok-blocked", metadata={}))
    await add(world, run, ev("run_blocked", divergence={"message": "m"}, code_version="src:1"))
    info = await world.get_run(run)
    assert info is not None and info.status == "blocked"
    assert run in await world.active_run_ids()  # the reconciler keeps queueing it
    assert [r.id for r in (await world.list_runs(status="blocked")).items] == [run]
    hook = await world.get_hook("tok-blocked")
    assert hook is not None and hook.status == "active"  # its hooks stay live
    await add(world, run, ev("hook_received", "h1", payload={"ok": 1}))
    await add(world, run, ev("run_unblocked", code_version="src:2"), ev("patch_recorded", name="p"))
    info = await world.get_run(run)
    assert info is not None and info.status == "running"
    types = [e.type for e in await world.read_events(run)]
    assert types[-4:] == ["run_blocked", "hook_received", "run_unblocked", "patch_recorded"]


async def test_a_failed_run_accepts_run_resumed_and_nothing_else(world: World) -> None:
    run = await new_run(world, started=True)
    await add(world, run, ev("step_created", "s1", step_id="st", input={}), ev("step_started", "s1", attempt=1))
    await add(world, run, ev("step_failed", "s1", error={"type": "E", "message": "down"}, attempt=1))
    await add(world, run, ev("run_failed", error={"type": "E", "message": "down"}))
    with pytest.raises(ConflictError):
        await add(world, run, ev("run_started"))
    await add(
        world, run,
        ev("run_resumed", "s1", retry_as="s1.r1", step_id="st"),
        ev("step_created", "s1.r1", step_id="st", input={}),
    )
    info = await world.get_run(run)
    assert info is not None and info.status == "running" and info.error is None and info.completed_at is None
    await add(world, run, ev("step_started", "s1.r1", attempt=1), ev("step_completed", "s1.r1", result=3))
    await add(world, run, ev("run_completed", result=3))
    info = await world.get_run(run)
    assert info is not None and info.status == "completed" and info.output == 3
    with pytest.raises(ConflictError):  # only a failed run may be resumed
        await add(world, run, ev("run_resumed", "s1.r1", retry_as="x", step_id="st"))


async def test_run_resumed_needs_the_failed_steps_correlation_id(world: World) -> None:
    run = await new_run(world, started=True)
    with pytest.raises(ValueError, match="run_resumed needs a correlation_id"):
        await add(world, run, ev("run_resumed", retry_as="x", step_id="st"))
