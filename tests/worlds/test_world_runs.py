"""Conformance: runs, create_run idempotency, listing and paging."""

from __future__ import annotations

import pytest
from world_support import T0, add, ev, new_run

from wdk.errors import ConflictError, RunNotFound
from wdk.worlds import NewRun, World


async def test_create_run_writes_run_and_run_created(world: World) -> None:
    info, created = await world.create_run(
        NewRun("r1", "wf", T0, {"workflow_id": "wf", "input": {"a": [1, 2]}}, parent_run_id="p")
    )
    assert created
    assert (info.id, info.status, info.last_seq, info.created_at) == ("r1", "pending", 0, T0)
    assert info.parent_run_id == "p"
    stored = await world.get_run("r1")
    assert stored is not None and stored.status == "pending" and stored.parent_run_id == "p"
    [event] = await world.read_events("r1")
    assert (event.seq, event.type, event.at, event.correlation_id) == (0, "run_created", T0, None)
    assert event.payload == {"workflow_id": "wf", "input": {"a": [1, 2]}}


async def test_idempotency_key_returns_existing_run_and_writes_nothing(world: World) -> None:
    _, created = await world.create_run(NewRun("r1", "wf", T0, {"n": 1}, idempotency_key="k"))
    again, created_again = await world.create_run(
        NewRun("r2", "wf", T0 + 1, {"n": 2}, idempotency_key="k")
    )
    assert created and not created_again
    assert again.id == "r1" and again.idempotency_key == "k"
    assert await world.get_run("r2") is None
    assert [e.payload for e in await world.read_events("r1")] == [{"n": 1}]
    page = await world.list_runs()
    assert [r.id for r in page.items] == ["r1"]


async def test_create_run_with_an_existing_id_conflicts(world: World) -> None:
    await world.create_run(NewRun("r1", "wf", T0))
    with pytest.raises(ConflictError):
        await world.create_run(NewRun("r1", "other", T0 + 1))
    info = await world.get_run("r1")
    assert info is not None and info.workflow_id == "wf"


async def test_unknown_run(world: World) -> None:
    assert await world.get_run("nope") is None
    with pytest.raises(RunNotFound):
        await world.read_events("nope")
    with pytest.raises(RunNotFound):
        await world.append("nope", 0, [ev("run_started")])
    with pytest.raises(RunNotFound):
        await world.list_steps("nope")
    with pytest.raises(RunNotFound):
        await world.list_waits("nope")


async def test_list_runs_newest_first_with_cursor(world: World) -> None:
    ids = [await new_run(world, f"r{i}", at=T0 + i) for i in range(7)]
    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        page = await world.list_runs(limit=3, cursor=cursor)
        seen += [r.id for r in page.items]
        pages += 1
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    assert seen == list(reversed(ids))
    assert pages == 3


async def test_list_runs_paging_with_equal_times_has_no_gaps(world: World) -> None:
    ids = {await new_run(world, f"r{i:02}", at=T0) for i in range(10)}
    seen: list[str] = []
    cursor = None
    while True:
        page = await world.list_runs(limit=4, cursor=cursor)
        seen += [r.id for r in page.items]
        if not page.next_cursor:
            break
        cursor = page.next_cursor
    assert len(seen) == 10 and set(seen) == ids


async def test_list_runs_filters(world: World) -> None:
    a = await new_run(world, "a", workflow_id="wf-a", at=T0 + 1)
    b = await new_run(world, "b", workflow_id="wf-b", at=T0 + 2, started=True)
    c = await new_run(world, "c", workflow_id="wf-a", at=T0 + 3, started=True)
    await add(world, c, ev("run_completed", result=5))
    assert [r.id for r in (await world.list_runs(workflow_id="wf-a")).items] == [c, a]
    assert [r.id for r in (await world.list_runs(status="running")).items] == [b]
    assert [
        r.id for r in (await world.list_runs(status="completed", workflow_id="wf-a")).items
    ] == [c]
    assert (await world.list_runs(status="failed")).items == []
    first = await world.list_runs(workflow_id="wf-a", limit=1)
    assert [r.id for r in first.items] == [c] and first.next_cursor
    rest = await world.list_runs(workflow_id="wf-a", limit=1, cursor=first.next_cursor)
    assert [r.id for r in rest.items] == [a]


async def test_active_run_ids_are_the_non_terminal_runs(world: World) -> None:
    pending = await new_run(world)
    running = await new_run(world, started=True)
    done = await new_run(world, started=True)
    await add(world, done, ev("run_cancelled"))
    assert set(await world.active_run_ids()) == {pending, running}
    assert len(await world.active_run_ids(limit=1)) == 1
