"""Conformance: many concurrent writers (group commit in the local world)."""

from __future__ import annotations

import asyncio

from world_support import T0, add, ev, last_seq, new_run

from wdk.errors import ConflictError, DuplicateCompletion
from wdk.worlds import NewRun, World


async def test_many_appends_in_one_tick_all_land(world: World) -> None:
    runs = [await new_run(world) for _ in range(150)]
    results = await asyncio.gather(*(world.append(r, 0, [ev("run_started")]) for r in runs))
    assert [out[0].seq for out in results] == [1] * len(runs)
    for run in runs:
        assert [e.type for e in await world.read_events(run)] == ["run_created", "run_started"]


async def test_a_conflicting_append_fails_alone(world: World) -> None:
    a = await new_run(world)
    b = await new_run(world)
    results = await asyncio.gather(
        world.append(a, 0, [ev("run_started")]),
        world.append(a, 0, [ev("run_started")]),
        world.append(b, 0, [ev("run_started")]),
        return_exceptions=True,
    )
    assert isinstance(results[1], ConflictError)
    assert not isinstance(results[0], BaseException) and not isinstance(results[2], BaseException)
    assert await last_seq(world, a) == 1 and await last_seq(world, b) == 1


async def test_a_duplicate_completion_fails_alone(world: World) -> None:
    run = await new_run(world, started=True)
    other = await new_run(world, started=True)
    seq = await add(world, run, ev("wait_created", "w", resume_at=T0))
    results = await asyncio.gather(
        world.append(run, seq, [ev("wait_completed", "w")]),
        world.append(other, 1, [ev("wait_created", "x", resume_at=T0)]),
        world.append(run, seq + 1, [ev("wait_completed", "w")]),
        return_exceptions=True,
    )
    assert isinstance(results[2], DuplicateCompletion)
    assert not isinstance(results[0], BaseException) and not isinstance(results[1], BaseException)
    assert [w.status for w in await world.list_waits(run)] == ["completed"]
    assert [w.correlation_id for w in await world.list_waits(other)] == ["x"]


async def test_create_runs_and_appends_together(world: World) -> None:
    infos = await asyncio.gather(
        *(world.create_run(NewRun(f"g{i}", "wf", T0 + i)) for i in range(40))
    )
    assert all(created for _, created in infos)
    outs = await asyncio.gather(*(world.append(f"g{i}", 0, [ev("run_started")]) for i in range(40)))
    assert all(out[0].seq == 1 for out in outs)
    assert len((await world.list_runs(status="running", limit=100)).items) == 40


async def test_racing_writers_never_fork_the_log(world: World) -> None:
    run = await new_run(world, started=True)

    async def writer(name: str) -> None:
        for i in range(5):
            while True:
                seq = await last_seq(world, run)
                try:
                    await world.append(run, seq, [ev("wait_created", f"{name}-{i}", resume_at=T0)])
                    break
                except ConflictError:
                    await asyncio.sleep(0)

    await asyncio.gather(*(writer(f"t{n}") for n in range(8)))
    events = await world.read_events(run)
    assert [e.seq for e in events] == list(range(42))
    assert len({e.correlation_id for e in events if e.type == "wait_created"}) == 40
