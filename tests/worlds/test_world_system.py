"""Conformance: what the dashboard's system view and the metrics read
(`queue_depth`, `system_info`), and `list_runs` bounded by creation time."""

from __future__ import annotations

import time

from world_support import T0, add, ev, new_run, owner

from wdk.worlds import World
from wdk.worlds.local import LocalWorld


def _sibling(world: World) -> World:
    """Another world object on the same store (as another process would open it)."""
    if isinstance(world, LocalWorld):
        return LocalWorld(world.data_dir)
    from wdk.worlds.postgres import PostgresWorld

    assert isinstance(world, PostgresWorld)
    return PostgresWorld(world.url, schema=world.schema)


async def test_list_runs_by_creation_time(world: World) -> None:
    ids = [await new_run(world, f"r{i}", at=T0 + i) for i in range(6)]
    page = await world.list_runs(created_after=T0 + 2, created_before=T0 + 5)
    assert [r.id for r in page.items] == [ids[4], ids[3], ids[2]]
    first = await world.list_runs(created_after=T0 + 1, limit=2)
    rest = await world.list_runs(created_after=T0 + 1, limit=2, cursor=first.next_cursor)
    assert [r.id for r in first.items + rest.items] == [ids[5], ids[4], ids[3], ids[2]]


async def test_queue_depth_counts_ready_scheduled_and_leased(world: World) -> None:
    assert await world.queue_depth("flow") == type(await world.queue_depth("flow"))(0, 0, 0)
    for key in ("a", "b", "c"):
        await world.enqueue("flow", key)
    await world.enqueue("flow", "later", delay=3600)
    await world.enqueue("other", "x")
    leases = await world.lease("flow", owner("w1") + "@w1", limit=1, lease_for=30)
    assert len(leases) == 1
    depth = await world.queue_depth("flow")
    assert (depth.ready, depth.scheduled, depth.leased) == (2, 1, 1)


async def test_system_info_counts_holders_and_runs_ended_per_minute(world: World) -> None:
    now = time.time()
    pending = await new_run(world, at=now)
    running = await new_run(world, started=True, at=now)
    done = [await new_run(world, started=True, at=now) for _ in range(3)]
    for run_id in done[:2]:
        await add(world, run_id, ev("run_completed", at=now, result=1))
    await add(world, done[2], ev("run_failed", at=now, error={"type": "E", "message": "m"}))
    old = await new_run(world, started=True, at=now - 7200)
    await add(world, old, ev("run_completed", at=now - 7200, result=1))
    for run_id in (pending, running):
        await world.enqueue("flow", run_id)
    await world.lease("flow", owner("w1") + "@worker-1", limit=1, lease_for=30)
    await world.lease("flow", owner("w2") + "@worker-2", limit=1, lease_for=30)

    info = await world.system_info("flow", now - 600)
    assert info.counts == {"pending": 1, "running": 1, "completed": 3, "failed": 1}
    assert (info.queue.ready, info.queue.scheduled, info.queue.leased) == (0, 0, 2)
    assert sorted((h.worker_id, h.leases) for h in info.holders) == [("worker-1", 1), ("worker-2", 1)]
    assert all(h.expires_at > now for h in info.holders)
    minute = int(now // 60)
    assert sorted(info.ended) == [(minute, "completed", 2), (minute, "failed", 1)]
    assert abs(info.at - time.time()) < 60
    assert info.workers == []  # leases name workers; only a claimed id makes one live


async def test_system_info_lists_the_live_workers(world: World) -> None:
    assert (await world.system_info("flow", 0.0)).workers == []
    await world.claim_worker_id("sys-a")
    other = _sibling(world)  # another process, as far as the store can tell
    await other.open()
    try:
        await other.claim_worker_id("sys-b")
        assert (await world.system_info("flow", 0.0)).workers == ["sys-a", "sys-b"]
    finally:
        await other.close()  # its id is let go: not live any more
    assert (await world.system_info("flow", 0.0)).workers == ["sys-a"]
