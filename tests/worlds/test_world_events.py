"""Conformance: the event log (append, read, conflicts) and every projection."""

from __future__ import annotations

import pytest
from world_support import T0, add, ev, last_seq, new_run

from wdk.errors import ConflictError, DuplicateCompletion, HookConflict
from wdk.worlds import World


async def test_append_assigns_seqs_and_reads_back_in_order(world: World) -> None:
    run = await new_run(world)
    payload = {"nested": {"list": [1, 2.5, None, True], "text": "héllo ✓"}, "big": 2**60}
    out = await world.append(
        run,
        0,
        [
            ev("run_started", at=T0 + 1),
            ev("step_created", "c1", T0 + 2, step_id="s", input=payload),
        ],
    )
    assert [(e.seq, e.type) for e in out] == [(1, "run_started"), (2, "step_created")]
    more = await world.append(run, 2, [ev("step_started", "c1", T0 + 3, attempt=1)])
    assert [e.seq for e in more] == [3]
    events = await world.read_events(run)
    assert [e.seq for e in events] == [0, 1, 2, 3]
    assert [e.type for e in events] == [
        "run_created",
        "run_started",
        "step_created",
        "step_started",
    ]
    assert events[2].payload == {"step_id": "s", "input": payload}
    assert [e.at for e in events[1:]] == [T0 + 1, T0 + 2, T0 + 3]
    assert events[2].correlation_id == "c1" and events[1].correlation_id is None
    assert await last_seq(world, run) == 3


async def test_read_events_pages_with_after_seq(world: World) -> None:
    run = await new_run(world, started=True)
    for i in range(9):
        await add(world, run, ev("wait_created", f"w{i}", resume_at=T0 + i))
    seqs: list[int] = []
    after = -1
    while batch := await world.read_events(run, after_seq=after, limit=4):
        assert len(batch) <= 4
        seqs += [e.seq for e in batch]
        after = batch[-1].seq
    assert seqs == list(range(11))
    assert [e.seq for e in await world.read_events(run, after_seq=8)] == [9, 10]


async def test_stale_expected_seq_conflicts_and_writes_nothing(world: World) -> None:
    run = await new_run(world, started=True)
    with pytest.raises(ConflictError) as info:
        await world.append(run, 0, [ev("step_created", "c1", step_id="s", input={})])
    assert not isinstance(info.value, DuplicateCompletion)
    with pytest.raises(ConflictError):
        await world.append(run, 5, [ev("step_created", "c1", step_id="s", input={})])
    assert [e.type for e in await world.read_events(run)] == ["run_created", "run_started"]
    assert await world.list_steps(run) == []
    assert await last_seq(world, run) == 1


async def test_second_completion_is_refused_and_its_batch_not_written(world: World) -> None:
    run = await new_run(world, started=True)
    await add(world, run, ev("step_created", "c1", step_id="s", input={}))
    seq = await add(world, run, ev("step_completed", "c1", result=1))
    for dup in (ev("step_completed", "c1", result=2), ev("step_failed", "c1", error={}, attempt=1)):
        with pytest.raises(DuplicateCompletion):
            await world.append(run, seq, [ev("wait_created", "w1", resume_at=T0), dup])
    assert await world.list_waits(run) == []
    events = await world.read_events(run)
    assert len(events) == seq + 1
    assert [e.payload.get("result") for e in events if e.type == "step_completed"] == [1]


async def test_two_completions_in_one_batch_are_refused(world: World) -> None:
    run = await new_run(world, started=True)
    seq = await add(world, run, ev("wait_created", "w", resume_at=T0))
    with pytest.raises(DuplicateCompletion):
        await world.append(run, seq, [ev("wait_completed", "w"), ev("wait_completed", "w")])
    assert (await world.list_waits(run))[0].status == "waiting"
    seq = await add(world, run, ev("wait_completed", "w"))
    with pytest.raises(DuplicateCompletion):
        await world.append(run, seq, [ev("wait_completed", "w")])


async def test_hook_token_conflict_and_release_when_run_ends(world: World) -> None:
    a = await new_run(world, started=True)
    b = await new_run(world, started=True)
    await add(world, a, ev("hook_created", "h", token="tok", metadata={"m": 1}))
    b_seq = await last_seq(world, b)
    with pytest.raises(HookConflict):
        await world.append(
            b, b_seq, [ev("wait_created", "w", resume_at=T0), ev("hook_created", "h", token="tok")]
        )
    assert await last_seq(world, b) == b_seq and await world.list_waits(b) == []
    hook = await world.get_hook("tok")
    assert hook is not None and hook.run_id == a and hook.metadata == {"m": 1}

    await add(world, a, ev("run_completed", result=None))
    assert await world.get_hook("tok") is None
    last = await world.get_hook("tok", include_disposed=True)
    assert last is not None and (last.run_id, last.status) == (a, "disposed")
    assert await world.get_hook("never", include_disposed=True) is None
    assert [h.status for h in await world.list_hooks(a)] == ["disposed"]
    await add(world, b, ev("hook_created", "h", token="tok"))
    hook = await world.get_hook("tok")
    assert hook is not None and hook.run_id == b
    assert await world.get_hook("tok", include_disposed=True) == hook  # the live one first


async def test_hook_disposed_frees_the_token(world: World) -> None:
    a = await new_run(world, started=True)
    await add(world, a, ev("hook_created", "h1", token="t"))
    await add(world, a, ev("hook_disposed", "h1"))
    await add(world, a, ev("hook_created", "h2", token="t"))
    assert [(h.correlation_id, h.status) for h in await world.list_hooks(a)] == [
        ("h1", "disposed"),
        ("h2", "active"),
    ]
    assert [h.correlation_id for h in await world.list_hooks(status="active")] == ["h2"]


async def test_terminal_run_accepts_only_hook_disposed(world: World) -> None:
    run = await new_run(world, started=True)
    await add(world, run, ev("hook_created", "h", token="t2"))
    seq = await add(world, run, ev("run_completed", result=1))
    with pytest.raises(ConflictError, match="already completed"):
        await world.append(run, seq, [ev("step_created", "c", step_id="s", input={})])
    with pytest.raises(ConflictError):
        await world.append(run, seq, [ev("run_failed", error={})])
    out = await world.append(run, seq, [ev("hook_disposed", "h")])
    assert out[0].seq == seq + 1
    info = await world.get_run(run)
    assert info is not None and info.status == "completed" and info.output == 1


async def test_events_after_a_terminal_event_in_one_batch_conflict(world: World) -> None:
    run = await new_run(world, started=True)
    with pytest.raises(ConflictError):
        await world.append(
            run, 1, [ev("run_completed", result=1), ev("wait_created", "w", resume_at=T0)]
        )
    info = await world.get_run(run)
    assert info is not None and info.status == "running"


async def test_bad_events_are_refused(world: World) -> None:
    run = await new_run(world, started=True)
    with pytest.raises(ValueError):
        await world.append(run, 1, [ev("no_such_event")])
    with pytest.raises(ValueError):
        await world.append(run, 1, [ev("step_created", None, step_id="s", input={})])
    with pytest.raises(ConflictError):
        await world.append(run, 1, [ev("run_created")])
    assert await last_seq(world, run) == 1


async def test_run_projection_through_its_life(world: World) -> None:
    run = await new_run(world, at=T0)
    await world.append(run, 0, [ev("run_started", at=T0 + 1)])
    info = await world.get_run(run)
    assert info is not None
    assert (info.status, info.started_at, info.updated_at, info.last_seq) == (
        "running",
        T0 + 1,
        T0 + 1,
        1,
    )
    await world.append(run, 1, [ev("run_completed", at=T0 + 2, result={"total": [1, "a"]})])
    info = await world.get_run(run)
    assert info is not None
    assert (info.status, info.completed_at, info.output, info.error) == (
        "completed",
        T0 + 2,
        {"total": [1, "a"]},
        None,
    )

    failed = await new_run(world, started=True)
    error = {"type": "ValueError", "message": "boom", "traceback": "tb"}
    await add(world, failed, ev("run_failed", error=error))
    info = await world.get_run(failed)
    assert info is not None and (info.status, info.error, info.output) == ("failed", error, None)

    cancelled = await new_run(world)
    await add(world, cancelled, ev("run_cancelled"))
    info = await world.get_run(cancelled)
    assert info is not None and info.status == "cancelled" and info.completed_at is not None


async def test_step_projection_through_retries(world: World) -> None:
    run = await new_run(world, started=True)
    await add(world, run, ev("step_created", "c1", T0, step_id="step//m//f", input={"x": 1}))
    [step] = await world.list_steps(run)
    assert (step.step_id, step.status, step.attempt, step.created_at) == (
        "step//m//f",
        "created",
        0,
        T0,
    )
    await add(world, run, ev("step_started", "c1", T0 + 1, attempt=1))
    [step] = await world.list_steps(run)
    assert (step.status, step.attempt, step.started_at) == ("running", 1, T0 + 1)
    err = {"type": "OSError", "message": "flaky", "traceback": ""}
    await add(world, run, ev("step_retrying", "c1", T0 + 2, attempt=1, error=err, retry_at=T0 + 5))
    [step] = await world.list_steps(run)
    assert (step.status, step.error, step.retry_at, step.updated_at) == (
        "retrying",
        err,
        T0 + 5,
        T0 + 2,
    )
    await add(world, run, ev("step_started", "c1", T0 + 5, attempt=2))
    await add(world, run, ev("step_completed", "c1", T0 + 6, result=[1]))
    [step] = await world.list_steps(run)
    assert (step.status, step.attempt, step.completed_at, step.error, step.retry_at) == (
        "completed",
        2,
        T0 + 6,
        None,
        None,
    )

    await add(world, run, ev("step_created", "c2", T0 + 7, step_id="step//m//g", input={}))
    await add(world, run, ev("step_started", "c2", T0 + 7, attempt=1))
    await add(world, run, ev("step_failed", "c2", T0 + 8, attempt=1, error=err))
    steps = await world.list_steps(run)
    assert [s.correlation_id for s in steps] == ["c1", "c2"]
    assert (steps[1].status, steps[1].error, steps[1].completed_at) == ("failed", err, T0 + 8)


async def test_step_events_need_a_created_step(world: World) -> None:
    run = await new_run(world, started=True)
    with pytest.raises(ConflictError):
        await world.append(run, 1, [ev("step_started", "ghost", attempt=1)])
    with pytest.raises(ConflictError):
        await world.append(run, 1, [ev("wait_completed", "ghost")])
    assert await last_seq(world, run) == 1


async def test_wait_and_hook_projections(world: World) -> None:
    run = await new_run(world, started=True)
    await add(world, run, ev("wait_created", "w1", T0, resume_at=T0 + 60))
    [wait] = await world.list_waits(run)
    assert (wait.correlation_id, wait.resume_at, wait.status, wait.created_at) == (
        "w1",
        T0 + 60,
        "waiting",
        T0,
    )
    await add(world, run, ev("wait_completed", "w1"))
    assert [w.status for w in await world.list_waits(run)] == ["completed"]

    await add(
        world, run, ev("hook_created", "h1", T0 + 1, token="abc", metadata={"kind": "webhook"})
    )
    await add(world, run, ev("hook_received", "h1", payload={"body": "x"}))
    await add(world, run, ev("hook_received", "h1", payload=2))
    [hook] = await world.list_hooks(run)
    assert (hook.token, hook.status, hook.created_at, hook.metadata) == (
        "abc",
        "active",
        T0 + 1,
        {"kind": "webhook"},
    )
    received = [e.payload for e in await world.read_events(run) if e.type == "hook_received"]
    assert received == [{"payload": {"body": "x"}}, {"payload": 2}]
    await add(world, run, ev("hook_disposed", "h1"))
    assert await world.get_hook("abc") is None
    assert [h.status for h in await world.list_hooks(run, status="disposed")] == ["disposed"]


@pytest.mark.parametrize("end", ["run_completed", "run_failed", "run_cancelled"])
async def test_a_finished_runs_waits_are_cancelled_with_it(world: World, end: str) -> None:
    # A run that ends leaves no wait "waiting": its waiting waits are cancelled
    # in the commit of the terminal event; completed ones stay completed.
    run = await new_run(world, started=True)
    await add(world, run, ev("wait_created", "w1", T0, resume_at=T0 + 60))
    await add(world, run, ev("wait_completed", "w1"))
    await add(
        world,
        run,
        ev("wait_created", "w2", T0 + 1, resume_at=T0 + 3600),
        ev("wait_created", "w3", T0 + 1, resume_at=T0 + 7200),
    )
    other = await new_run(world, started=True)
    await add(world, other, ev("wait_created", "w1", T0, resume_at=T0 + 60))
    payload = {"run_completed": {"result": None}, "run_failed": {"error": {}}}.get(end, {})
    await add(world, run, ev(end, **payload))
    assert [(w.correlation_id, w.status) for w in await world.list_waits(run)] == [
        ("w1", "completed"),
        ("w2", "cancelled"),
        ("w3", "cancelled"),
    ]
    assert [w.status for w in await world.list_waits(other)] == ["waiting"]
