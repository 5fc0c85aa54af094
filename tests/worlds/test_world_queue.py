"""Conformance: the queue (merge, lease, ack, requeue, dirty, expiry, extend)."""

from __future__ import annotations

import asyncio
import sys
import time

import pytest
from world_support import owner

from wdk.worlds import Lease, World

Q = "flows"
# A deadline for what must happen promptly: generous, since a loaded machine
# is slow; a test that would otherwise hang fails here instead.
DEADLINE = 20.0
NEVER = 3600.0  # a timeout or poll interval that no passing test reaches


@pytest.fixture
def no_polling(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    """Only a wake-up (an enqueue, a NOTIFY) or a message falling due ends a
    wait: the world's poll interval is an hour."""
    monkeypatch.setattr(sys.modules[type(world).__module__], "QUEUE_POLL_SECONDS", NEVER)


async def lease_once_due(world: World, name: str) -> Lease:
    """Lease the queue's single message as soon as it can be leased."""
    deadline = time.monotonic() + DEADLINE
    while not (leases := await world.lease(Q, owner(name))):
        assert time.monotonic() < deadline, "the message never became available"
        await world.wait_for_messages(Q, timeout=0.05)
    [lease] = leases
    return lease


async def test_enqueue_then_lease_once(world: World) -> None:
    await world.enqueue(Q, "run-1", b"payload")
    [lease] = await world.lease(Q, owner("a"))
    assert (lease.queue, lease.key, lease.payload, lease.owner, lease.attempts) == (
        Q,
        "run-1",
        b"payload",
        owner("a"),
        1,
    )
    assert await world.lease(Q, owner("b")) == []


async def test_delay_and_next_available_at(world: World) -> None:
    assert await world.next_available_at(Q) is None
    before = time.time()
    await world.enqueue(Q, "k", delay=30)
    assert await world.lease(Q, owner()) == []
    at = await world.next_available_at(Q)
    assert at is not None and before + 29 <= at <= time.time() + 31


async def test_enqueue_merges_and_the_earlier_time_wins(world: World) -> None:
    await world.enqueue(Q, "late-then-now", delay=60)
    await world.enqueue(Q, "late-then-now", delay=0)
    await world.enqueue(Q, "now-then-late", delay=0)
    await world.enqueue(Q, "now-then-late", delay=60)
    leases = await world.lease(Q, owner(), limit=10)
    assert sorted(x.key for x in leases) == ["late-then-now", "now-then-late"]


async def test_queues_are_separate(world: World) -> None:
    await world.enqueue("a", "k", b"1")
    await world.enqueue("b", "k", b"2")
    [la] = await world.lease("a", owner())
    [lb] = await world.lease("b", owner())
    assert (la.payload, lb.payload) == (b"1", b"2")


async def test_lease_takes_the_earliest_first_up_to_limit(world: World) -> None:
    # Created in the reverse of their availability order: a queue that leased
    # by insertion order would hand out "third" first. Availability is set by
    # merging (the earlier time wins) from an hour away to now, one after the
    # other, so the order does not depend on how fast the calls run.
    for key in ("third", "second", "first"):
        await world.enqueue(Q, key, delay=NEVER)
    for key in ("first", "second", "third"):
        await world.enqueue(Q, key, delay=0)
    [one] = await world.lease(Q, owner(), limit=1)
    assert one.key == "first"
    [two] = await world.lease(Q, owner(), limit=1)
    assert two.key == "second"
    rest = await world.lease(Q, owner(), limit=5)
    assert [x.key for x in rest] == ["third"]


async def test_ack_deletes(world: World) -> None:
    await world.enqueue(Q, "k")
    [lease] = await world.lease(Q, owner())
    await world.ack(lease)
    assert await world.lease(Q, owner()) == []
    assert await world.next_available_at(Q) is None


async def test_ack_with_requeue_keeps_the_message(world: World) -> None:
    await world.enqueue(Q, "k", b"p")
    [lease] = await world.lease(Q, owner())
    before = time.time()
    await world.ack(lease, requeue_after=60)
    assert await world.lease(Q, owner()) == []
    at = await world.next_available_at(Q)
    assert at is not None and at >= before + 59
    await world.enqueue(Q, "k", b"p")  # new work: available at once again
    [again] = await world.lease(Q, owner())
    assert again.key == "k"


async def test_enqueue_while_leased_survives_the_ack(world: World) -> None:
    await world.enqueue(Q, "k", b"old")
    [lease] = await world.lease(Q, owner())
    await world.enqueue(Q, "k", b"new")
    assert await world.lease(Q, owner("other")) == []  # still leased
    await world.ack(lease)
    [again] = await world.lease(Q, owner())
    assert again.payload == b"new"
    await world.ack(again)
    assert await world.lease(Q, owner()) == []


async def test_expired_lease_returns_and_the_stale_ack_is_ignored(world: World) -> None:
    await world.enqueue(Q, "k")
    [first] = await world.lease(Q, owner("a"), lease_for=0.05)
    second = await lease_once_due(world, "b")  # once a's lease expired
    assert second.key == "k" and second.attempts == 2
    await world.ack(first)  # lost lease: must not delete b's message
    await world.extend([first], lease_for=0)  # nor shorten b's lease
    assert await world.lease(Q, owner("c")) == []
    await world.ack(second)
    assert await world.next_available_at(Q) is None


async def test_extend_keeps_the_lease(world: World) -> None:
    await world.enqueue(Q, "k")
    # Expired the moment it is taken: without the extend, b would lease it.
    [lease] = await world.lease(Q, owner("a"), lease_for=0)
    await world.extend([lease], lease_for=30)
    assert await world.lease(Q, owner("b")) == []
    at = await world.next_available_at(Q)
    assert at is not None and at > time.time() + 25


async def test_wait_for_messages_wakes_on_enqueue(world: World, no_polling: None) -> None:
    async def later() -> None:
        await asyncio.sleep(0.02)  # usually after the wait began; either order must work
        await world.enqueue(Q, "k")

    task = asyncio.create_task(later())
    await asyncio.wait_for(world.wait_for_messages(Q, timeout=NEVER), DEADLINE)
    await task
    assert len(await world.lease(Q, owner())) == 1


async def test_wait_for_messages_times_out_and_sees_due_messages(
    world: World, no_polling: None
) -> None:
    started = time.monotonic()
    await asyncio.wait_for(world.wait_for_messages(Q, timeout=0.15), DEADLINE)
    assert time.monotonic() - started >= 0.14  # an empty queue waits out the timeout
    await world.enqueue(Q, "soon", delay=0.1)
    # No enqueue and no poll wakes this wait: only "soon" falling due.
    await asyncio.wait_for(world.wait_for_messages(Q, timeout=NEVER), DEADLINE)
    assert [x.key for x in await world.lease(Q, owner())] == ["soon"]
    await world.enqueue(Q, "now")
    await asyncio.wait_for(world.wait_for_messages(Q, timeout=NEVER), DEADLINE)
    assert [x.key for x in await world.lease(Q, owner())] == ["now"]


async def test_only_if_absent_leaves_an_existing_message_alone(world: World) -> None:
    await world.enqueue(Q, "sleeper", b"old", delay=60)
    await world.enqueue(Q, "sleeper", b"new", only_if_absent=True)
    assert await world.lease(Q, owner()) == []  # not woken early
    await world.enqueue(Q, "busy", b"1")
    [lease] = await world.lease(Q, owner())
    await world.enqueue(Q, "busy", b"2", only_if_absent=True)
    await world.ack(lease)  # not marked dirty: the ack deletes it
    assert await world.lease(Q, owner()) == []
    await world.enqueue(Q, "fresh", b"x", only_if_absent=True)
    assert [(x.key, x.payload) for x in await world.lease(Q, owner())] == [("fresh", b"x")]
