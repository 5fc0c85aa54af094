"""Conformance: worker ids. One live holder per id; a new holder of an id frees
the leases its dead predecessor held at once, not when they expire."""

from __future__ import annotations

import pytest
from world_support import T0

from wdk.errors import WorkerIdTaken
from wdk.worlds import NewRun, World
from wdk.worlds.base import owner_id
from wdk.worlds.local import LocalWorld

Q = "flow"


def _sibling(world: World) -> World:
    """Another world object on the same store (as another process would open it)."""
    if isinstance(world, LocalWorld):
        return LocalWorld(world.data_dir)
    from wdk.worlds.postgres import PostgresWorld

    assert isinstance(world, PostgresWorld)
    return PostgresWorld(world.url, schema=world.schema)


async def test_an_id_has_one_live_holder(world: World) -> None:
    assert await world.claim_worker_id("w1") == "w1"
    other = _sibling(world)
    await other.open()
    try:
        with pytest.raises(WorkerIdTaken, match="w1"):
            await other.claim_worker_id("w1")
        assert await other.claim_worker_id("w2") == "w2"
    finally:
        await other.close()


async def test_a_closed_holder_frees_its_id(world: World) -> None:
    first = _sibling(world)
    await first.open()
    assert await first.claim_worker_id("w1") == "w1"
    await first.close()
    assert await world.claim_worker_id("w1") == "w1"


async def test_default_ids_are_the_lowest_free_slots(world: World) -> None:
    others = [_sibling(world) for _ in range(2)]
    for other in others:
        await other.open()
    try:
        a = await others[0].claim_worker_id(None)
        b = await others[1].claim_worker_id(None)
        assert a.endswith("-0") and b.endswith("-1") and a[:-2] == b[:-2]
        await others[0].close()
        assert await world.claim_worker_id(None) == a  # a restarted worker gets its slot back
    finally:
        for other in others:
            await other.close()


async def test_a_new_holder_frees_its_predecessors_leases_at_once(world: World) -> None:
    dead = _sibling(world)
    await dead.open()
    claimed = await dead.claim_worker_id("w1")
    owner = f"host:1:abc@{claimed}"
    assert owner_id(owner) == "w1"
    _, _, lease = await dead.start_run(NewRun("r1", "wf", T0), Q, owner=owner, lease_for=3600)
    await dead.start_run(NewRun("r2", "wf", T0), Q, owner="host:2:def@w2", lease_for=3600)
    assert lease is not None
    await dead.close()  # the process died: its id is free, its leases are not (an hour left)
    assert await world.lease(Q, "someone", limit=10) == []
    assert await world.claim_worker_id("w1") == "w1"
    [again] = await world.lease(Q, "host:3:ghi@w1", limit=10)
    assert again.key == "r1"  # not r2: that one is another worker's
    assert await world.extend([lease], 30) == [lease]  # the predecessor's lease is void


async def test_a_bad_id_is_refused(world: World) -> None:
    with pytest.raises(ValueError, match="letters, digits"):
        await world.claim_worker_id("no spaces/here")
