"""Conformance: renewing leases tells which were lost, from the loop and from a thread.

The runtime renews its leases from a thread of its own (a blocked event loop
must not let a running step's run lapse), so every world offers a renewer
with blocking calls on a connection of its own.
"""

from __future__ import annotations

import asyncio

from world_support import owner

from wdk.worlds import World

Q = "flows"


async def _taken_over(world: World) -> tuple[object, object]:
    """A lease that expired at once and was taken by another owner."""
    await world.enqueue(Q, "k")
    [first] = await world.lease(Q, owner("a"), lease_for=0)
    [second] = await world.lease(Q, owner("b"), lease_for=30)
    return first, second


async def test_extend_returns_the_lost_leases(world: World) -> None:
    first, second = await _taken_over(world)
    assert await world.extend([second], lease_for=30) == []
    assert await world.extend([first, second], lease_for=30) == [first]  # type: ignore[list-item]


async def test_extend_after_ack_reports_the_lease_lost(world: World) -> None:
    await world.enqueue(Q, "k")
    [lease] = await world.lease(Q, owner("a"))
    await world.ack(lease)
    assert await world.extend([lease]) == [lease]


async def test_renewer_in_a_thread_keeps_and_reports(world: World) -> None:
    first, second = await _taken_over(world)
    await world.enqueue(Q, "other")
    [held] = await world.lease(Q, owner("c"), lease_for=0.5)
    renewer = world.lease_renewer()
    try:
        lost = await asyncio.to_thread(renewer.extend, [first, held], 60.0)
        assert lost == [first]
        # The held lease now runs for a minute: nobody else can take it.
        assert await world.lease(Q, owner("d")) == []
        at = await world.next_available_at(Q)
        assert at is not None
    finally:
        await asyncio.to_thread(renewer.close)
    assert await world.extend([second], lease_for=30) == []
