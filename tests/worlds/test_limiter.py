"""The limiter (wdk/runtime/limiter.py) on each world: slots shared by two
limiters (as by two processes), priority order, cancelled waiters, a lowered
limit, and rate tokens that come back by expiring."""

from __future__ import annotations

import asyncio
import time

import pytest

from wdk.runtime.flow_control import Limit
from wdk.runtime.limiter import Held, Limiter
from wdk.worlds import World

SLOTS = Limit("concurrency", "step//t//f", 2)


async def test_slots_are_shared_between_limiters(world: World) -> None:
    a, b = Limiter(world, "host:1:a", 30.0), Limiter(world, "host:1:b", 30.0)
    held = [await a.acquire([SLOTS]), await a.acquire([SLOTS])]
    waiting = asyncio.ensure_future(b.acquire([SLOTS]))
    done, _ = await asyncio.wait([waiting], timeout=0.3)
    assert not done  # both slots are held by `a`
    a.release(held.pop())
    got = await asyncio.wait_for(waiting, 5)  # back to the world after a's linger, then b's
    assert len(got.slots) == 1
    b.release(got)
    a.release(held.pop())
    await a.close()
    await b.close()


async def test_local_waiters_are_served_by_priority_then_arrival(world: World) -> None:
    one = Limit("concurrency", "step//t//one", 1)
    limiter = Limiter(world, "host:1:a", 30.0)
    first = await limiter.acquire([one])
    order: list[str] = []

    async def wait(name: str, priority: int) -> None:
        held = await limiter.acquire([one], priority)
        order.append(name)
        limiter.release(held)

    tasks = []
    for n, p in (("low", 0), ("high", 5), ("low2", 0), ("mid", 2)):
        tasks.append(asyncio.ensure_future(wait(n, p)))
        await _queued(limiter, one, len(tasks))  # in this order
    limiter.release(first)
    await asyncio.wait_for(asyncio.gather(*tasks), 5)
    assert order == ["high", "mid", "low", "low2"]
    await limiter.close()


async def _queued(limiter: Limiter, limit: Limit, n: int) -> None:
    deadline = time.monotonic() + 10
    while (gate := limiter._gates.get(limit.queue)) is None or gate._live() < n:
        assert time.monotonic() < deadline, f"{n} waiters never queued"
        await asyncio.sleep(0.001)


async def test_a_cancelled_waiter_takes_no_slot(world: World) -> None:
    one = Limit("concurrency", "step//t//cancel", 1)
    limiter = Limiter(world, "host:1:a", 30.0)
    first = await limiter.acquire([one])
    doomed = asyncio.ensure_future(limiter.acquire([one]))
    await asyncio.sleep(0.05)
    doomed.cancel()
    limiter.release(first)
    again = await asyncio.wait_for(limiter.acquire([one]), 5)  # the slot was not lost
    limiter.release(again)
    await limiter.close()


async def test_a_lower_limit_retires_the_extra_slots(world: World) -> None:
    three = Limit("concurrency", "step//t//shrink", 3)
    limiter = Limiter(world, "host:1:a", 30.0)
    held = [await limiter.acquire([three]) for _ in range(3)]
    for h in held:
        limiter.release(h)
    await limiter.close()
    two = Limit("concurrency", "step//t//shrink", 2)
    fresh = Limiter(world, "host:1:b", 30.0)
    kept: list[Held] = [await fresh.acquire([two]), await fresh.acquire([two])]
    third = asyncio.ensure_future(fresh.acquire([two]))
    done, _ = await asyncio.wait([third], timeout=0.3)
    assert not done
    third.cancel()
    for h in kept:
        fresh.release(h)
    await fresh.close()


async def test_rate_tokens_come_back_by_expiring(world: World) -> None:
    per = 0.3
    rate = Limit("rate", "step//t//rate", 2, None, per)
    limiter = Limiter(world, "host:1:a", 30.0)
    t0 = time.monotonic()
    for _ in range(2):
        await limiter.acquire([rate])
    await asyncio.wait_for(limiter.acquire([rate]), 5)
    assert time.monotonic() - t0 >= per  # the third waited for a token to expire
    await limiter.close()



async def test_idle_gates_of_many_keys_are_forgotten(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    from wdk.runtime import limiter as limiter_module

    monkeypatch.setattr(limiter_module, "MAX_GATES", 5)
    monkeypatch.setattr(limiter_module, "LINGER", 0.0)  # a released slot goes back at the next turn
    limiter = Limiter(world, "host:1:a", 30.0)
    for i in range(12):
        held = await limiter.acquire([Limit("concurrency", "step//t//keyed", 1, f"customer-{i}")])
        limiter.release(held)
        await asyncio.sleep(0)  # the linger timer (0 s) gives it back
    assert len(limiter._gates) <= 6  # one per key seen, pruned past MAX_GATES
    await limiter.close()


@pytest.mark.parametrize("kind", ["concurrency", "rate"])
async def test_a_better_waiter_of_another_process_goes_first(world: World, kind: str) -> None:
    # Two limiters with their own owners, as two processes: a's waiters came
    # first, b's has a higher priority; a's released slot (or the token that
    # comes back) goes to b's.
    one = Limit("concurrency", "step//t//across", 1) if kind == "concurrency" else Limit("rate", "t", 1, None, 1.2)
    # (Places renewed, and the line looked at, every 0.2 s: a sees b before the token comes back.)
    a, b = Limiter(world, "host:1:a", 0.6), Limiter(world, "host:2:b", 0.6)
    first = await a.acquire([one])
    order: list[str] = []

    async def wait(limiter: Limiter, name: str, priority: int) -> None:
        held = await limiter.acquire([one], priority)
        order.append(name)
        limiter.release(held)

    tasks = [asyncio.ensure_future(wait(a, "a0", 0))]
    await _queued(a, one, 1)
    tasks.append(asyncio.ensure_future(wait(a, "a1", 0)))
    await _queued(a, one, 2)
    tasks.append(asyncio.ensure_future(wait(b, "b", 5)))
    await _queued(b, one, 1)
    deadline = time.monotonic() + 10
    while a._gates[one.queue]._rival is None:  # a's pump looks at the line again (every second at most)
        assert time.monotonic() < deadline, "a never saw b's place in the line"
        await asyncio.sleep(0.01)
    a.release(first)
    await asyncio.wait_for(asyncio.gather(*tasks), 10)
    assert order == ["b", "a0", "a1"]
    await a.close()
    await b.close()
