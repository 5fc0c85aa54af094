"""Conformance: what flow control needs from a world -- priorities in the
queue, debounced starts, and schedule state written with a compare-and-set."""

from __future__ import annotations

import asyncio

import pytest
from world_support import T0

from wdk.worlds import NewRun, World
from wdk.worlds.base import ScheduleState

Q = "flow"


async def test_higher_priority_messages_are_leased_first(world: World) -> None:
    for i, priority in enumerate([0, 5, -1, 5, 2]):
        await world.start_run(NewRun(f"r{i}", "wf", T0, priority=priority), Q)
    order = [(await world.lease(Q, "w", limit=1))[0].key for _ in range(5)]
    assert order == ["r1", "r3", "r4", "r0", "r2"]  # by priority, then first come


async def test_a_leased_start_keeps_its_priority_when_requeued(world: World) -> None:
    _, _, lease = await world.start_run(NewRun("hi", "wf", T0, priority=9), Q, owner="w", lease_for=60)
    await world.start_run(NewRun("lo", "wf", T0), Q)
    assert lease is not None
    await world.ack(lease, requeue_after=0.0)
    assert [x.key for x in await world.lease(Q, "w2", limit=1)] == ["hi"]


async def test_debounced_starts_make_one_run_with_the_last_payload(world: World) -> None:
    first, created = await world.debounce_run(NewRun("d1", "wf", T0, {"n": 1}), Q, "k", 60.0)
    assert created and first.id == "d1"
    again, created = await world.debounce_run(NewRun("d2", "wf", T0, {"n": 2}), Q, "k", 60.0)
    assert not created and again.id == "d1"
    assert await world.get_run("d2") is None
    [event] = await world.read_events("d1")
    assert event.payload == {"n": 2}
    assert await world.lease(Q, "w", limit=10) == []  # due when the window closes
    other, created = await world.debounce_run(NewRun("d3", "wf", T0, {"n": 3}), Q, "other", 60.0)
    assert created and other.id == "d3"


async def test_a_closed_debounce_window_starts_a_new_run(world: World) -> None:
    await world.debounce_run(NewRun("d1", "wf", T0, {"n": 1}), Q, "k", 0.0)
    await asyncio.sleep(0.01)
    run, created = await world.debounce_run(NewRun("d2", "wf", T0, {"n": 2}), Q, "k", 60.0)
    assert created and run.id == "d2"
    assert [x.key for x in await world.lease(Q, "w", limit=10)] == ["d1"]
    [event] = await world.read_events("d1")
    assert event.payload == {"n": 1}


async def test_schedule_state_is_written_by_compare_and_set(world: World) -> None:
    assert await world.get_schedule("s") is None
    fresh = ScheduleState("s", {"cron": "* * * * *"}, last_tick=T0)
    assert await world.save_schedule(fresh)
    assert not await world.save_schedule(fresh)  # inserted already
    stored = await world.get_schedule("s")
    assert stored is not None and (stored.version, stored.last_tick, stored.spec) == (1, T0, {"cron": "* * * * *"})
    moved = ScheduleState("s", stored.spec, stored.version, T0 + 60, "run1", None, True)
    assert await world.save_schedule(moved)
    assert not await world.save_schedule(moved)  # version 1 is gone
    now = await world.get_schedule("s")
    assert now is not None and (now.version, now.last_tick, now.last_run_id, now.paused) == (2, T0 + 60, "run1", True)
    assert [x.name for x in await world.list_schedules()] == ["s"]


async def test_a_run_queued_again_keeps_its_priority(world: World) -> None:
    # A run waiting on a hook has no message; the hook's resume (or the
    # reconciler, or a webhook) queues it again: with the run's priority.
    _, _, lease = await world.start_run(NewRun("hi", "wf", T0, priority=9), Q, owner="w", lease_for=60)
    assert lease is not None
    await world.ack(lease)  # waiting on a hook: no message left
    await world.start_run(NewRun("lo", "wf", T0), Q)
    await world.enqueue(Q, "hi")
    assert [x.key for x in await world.lease(Q, "w2", limit=1)] == ["hi"]


async def test_created_runs_and_debounced_ones_keep_their_priority(world: World) -> None:
    await world.start_run(NewRun("lo", "wf", T0), Q)
    await world.create_run(NewRun("made", "wf", T0, priority=3))  # no message: the reconciler's case
    await world.enqueue(Q, "made", only_if_absent=True)
    await world.debounce_run(NewRun("deb", "wf", T0, priority=5), Q, "k", 0.0)
    await world.enqueue(Q, "deb", only_if_absent=True)  # the reconciler: the message stays as it was
    await asyncio.sleep(0.01)
    assert [(await world.lease(Q, "w", limit=1))[0].key for _ in range(3)] == ["deb", "made", "lo"]


async def test_a_limit_is_leased_in_line_order_across_owners(world: World) -> None:
    slots = "wdk.concurrency:t:"
    await world.enqueue(slots, f"{slots}#0")
    # Owner a waits with a low priority, then b with a high one: b goes first.
    await world.wait_in_line(slots, "a", (0, T0), ttl=60)
    await world.wait_in_line(slots, "b", (5, T0 + 1), ttl=60)
    leases, rival = await world.lease_in_line(slots, "a", [(0, T0)], lease_for=60)
    assert (leases, rival) == ([], (5, T0 + 1))
    leases, rival = await world.lease_in_line(slots, "b", [(5, T0 + 1)], lease_for=60)
    assert [x.key for x in leases] == [f"{slots}#0"] and rival == (0, T0)
    # b leaves the line: a is at its head; a place that expired counts no more.
    await world.wait_in_line(slots, "b", None)
    await world.wait_in_line(slots, "c", (9, T0), ttl=0.0)
    await world.ack(leases[0], requeue_after=0.0)
    leases, rival = await world.lease_in_line(slots, "a", [(0, T0), (0, T0 + 2)], lease_for=60)
    assert len(leases) == 1 and rival is None  # one slot for two waiters


async def test_the_place_of_a_dead_process_is_dropped_at_once(world: World) -> None:
    import socket
    import subprocess

    if world.name != "local":
        pytest.skip("only the local world sees other processes' pids; postgres waits for the place's ttl")
    proc = subprocess.Popen(["true"])
    proc.wait()
    slots = "wdk.concurrency:dead:"
    await world.enqueue(slots, f"{slots}#0")
    await world.wait_in_line(slots, f"{socket.gethostname()}:{proc.pid}:x", (9, T0), ttl=600)
    leases, rival = await world.lease_in_line(slots, "w", [(0, T0 + 1)], lease_for=60)
    assert len(leases) == 1 and rival is None
