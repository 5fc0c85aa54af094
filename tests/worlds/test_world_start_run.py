"""Conformance: start_run creates a run and its queue message in one transaction,
optionally leased to the caller."""

from __future__ import annotations

import pytest
from world_support import T0

from wdk.errors import ConflictError
from wdk.worlds import NewRun, World

Q = "flow"


async def test_start_run_creates_the_run_and_an_available_message(world: World) -> None:
    info, created, lease = await world.start_run(NewRun("r1", "wf", T0, {"n": 1}), Q)
    assert created and lease is None
    assert (info.id, info.status, info.last_seq) == ("r1", "pending", 0)
    [event] = await world.read_events("r1")
    assert (event.seq, event.type, event.payload) == (0, "run_created", {"n": 1})
    [leased] = await world.lease(Q, "w1", limit=10)
    assert leased.key == "r1"


async def test_start_run_with_an_owner_leases_the_message_to_it(world: World) -> None:
    _, created, lease = await world.start_run(NewRun("r1", "wf", T0), Q, owner="w1", lease_for=3600)
    assert created and lease is not None
    assert (lease.queue, lease.key, lease.owner, lease.attempts) == (Q, "r1", "w1", 1)
    assert await world.lease(Q, "w2", limit=10) == []  # held: no one else gets it
    assert await world.extend([lease], 3600) == []  # a real lease: it can be renewed
    await world.ack(lease)
    assert await world.lease(Q, "w2", limit=10) == []  # acked: gone
    assert await world.next_available_at(Q) is None


async def test_start_run_leased_message_returns_when_its_lease_expires(world: World) -> None:
    _, _, lease = await world.start_run(NewRun("r1", "wf", T0), Q, owner="w1", lease_for=0.0)
    assert lease is not None
    [again] = await world.lease(Q, "w2", limit=10)
    assert again.key == "r1" and again.token != lease.token
    assert await world.extend([lease], 30) == [lease]  # the first holder lost it


async def test_start_run_with_a_used_idempotency_key_writes_nothing(world: World) -> None:
    await world.start_run(NewRun("r1", "wf", T0, idempotency_key="k"), Q, owner="w1", lease_for=3600)
    info, created, lease = await world.start_run(
        NewRun("r2", "wf", T0 + 1, idempotency_key="k"), Q, owner="w1", lease_for=3600
    )
    assert not created and lease is None and info.id == "r1"
    assert await world.get_run("r2") is None
    assert await world.lease(Q, "w2", limit=10) == []  # r1 is still leased to w1; no message for r2


async def test_start_run_with_an_existing_id_conflicts_and_writes_nothing(world: World) -> None:
    await world.create_run(NewRun("r1", "wf", T0))
    with pytest.raises(ConflictError):
        await world.start_run(NewRun("r1", "other", T0 + 1), Q)
    assert await world.lease(Q, "w1", limit=10) == []
