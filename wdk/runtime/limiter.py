"""Enforcing concurrency and rate limits across every process sharing a world.

Why the queue: a slot must hold across processes and machines, and be freed
when its holder dies. Queue messages already do both -- a lease is exclusive,
renewed by the lease thread while held, and returned when the holder's lease
expires (or, with a worker id, at once when the worker restarts). So:

- `Concurrency(n)` is a queue (`Limit.queue`) of n messages, its slots. An
  execution leases one, holds it (renewed like a run's lease) and acks it
  back (`requeue_after=0`: available at once, and every waiting process is woken).
- `RateLimit(n, per)` is a queue of n tokens. A start leases one for `per`
  (plus a margin) and never gives it back: it comes back by expiring, so no
  window of `per` sees more than n starts.

Waiting never spins on the store: one pump per queue and process leases for
all its local waiters at once, then sleeps in `World.wait_for_messages` (a
NOTIFY, an in-process wake-up, or the time a lease expires). Local waiters
are served by priority, then in arrival order; a slot released while a local
waiter is queued goes to it directly (no round trip), at most MAX_HANDOFFS
times in a row before it goes back to the world, and this process waits
YIELD_SECONDS before asking again, so other processes get their turn; one
released with no local waiter stays here for LINGER seconds (idle, so it
counts nothing as running) in case the next step wants it.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
import logging
import time
from collections.abc import Coroutine, Sequence
from typing import Any

from wdk.errors import WorldError
from wdk.runtime.flow_control import Limit
from wdk.runtime.leases import LeaseKeeper
from wdk.worlds.base import Lease, World

log = logging.getLogger("wdk")

MAX_HANDOFFS = 8
LINGER = 0.02  # seconds an unused slot stays with this process (see _Gate.give)
YIELD_SECONDS = 0.01  # after MAX_HANDOFFS, how long this process lets others lease first
RATE_MARGIN = 0.05  # a token comes back a little after `per`: a start follows its lease by a moment
POLL_SECONDS = 1.0
MAX_GATES = 1000  # limits (one per key value) remembered per process before idle ones are forgotten
_order = itertools.count()


class Held:
    """What one acquisition holds: the slots to give back (tokens are not),
    and the tokens with when they were granted (see `Limiter.ready`)."""

    def __init__(self) -> None:
        self.slots: list[tuple[_Gate, Lease]] = []
        self.tokens: list[tuple[Lease, float, float]] = []  # (lease, its period, granted at)


class Limiter:
    """One per runtime: `acquire(limits, priority)` waits for a slot or token of
    each limit (concurrency first: a token is not spent while a slot is awaited)."""

    def __init__(self, world: World, owner: str, lease_for: float, keeper: LeaseKeeper | None = None) -> None:
        self.world = world
        self.owner = owner
        self.lease_for = lease_for
        self.keeper = keeper
        self._gates: dict[str, _Gate] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self._renewing: asyncio.Task[None] | None = None
        self._held: dict[tuple[str, str], Lease] = {}

    async def acquire(self, limits: Sequence[Limit], priority: int = 0) -> Held:
        if len(self._gates) > MAX_GATES:
            self._prune()
        held = Held()
        try:
            for limit in sorted(limits, key=lambda x: x.kind != "concurrency"):
                gate = self._gates.get(limit.queue)
                if gate is None or gate.limit != limit:
                    gate = self._gates[limit.queue] = _Gate(self, limit)
                lease = await gate.take(priority)
                if limit.kind == "concurrency":
                    held.slots.append((gate, lease))
                else:
                    held.tokens.append((lease, limit.per, time.monotonic()))
        except BaseException:
            self.release(held)
            raise
        return held

    def _prune(self) -> None:
        """Forget the gates of keys nobody waits on here (a per-customer limit
        makes one per customer); one asked for again is rebuilt."""
        for queue, gate in list(self._gates.items()):
            if gate.unused():
                del self._gates[queue]

    async def ready(self, held: Held) -> None:
        """Call just before the work starts. A token's period runs from its
        lease; if the work starts later than RATE_MARGIN after it (a busy
        loop, a slot awaited after the token), the period is restarted now, so
        no window of `per` sees more than `limit` starts."""
        now = time.monotonic()
        stale = [(lease, per) for lease, per, at in held.tokens if now - at > RATE_MARGIN / 2]
        for lease, per in stale:
            with contextlib.suppress(WorldError):
                await self.world.extend([lease], per + RATE_MARGIN)

    async def close(self) -> None:
        """Stop waiting and give every idle slot back now (the runtime is stopping)."""
        pumps = [g._pump for g in self._gates.values() if g._pump is not None and not g._pump.done()]
        for pump in pumps:
            pump.cancel()
        await asyncio.gather(*pumps, return_exceptions=True)
        if self._renewing is not None:
            self._renewing.cancel()
        for gate in self._gates.values():
            if gate._idle_timer is not None:
                gate._idle_timer.cancel()
            gate.let_go()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    def release(self, held: Held) -> None:
        """Give the slots back: to a local waiter, or to the world."""
        slots, held.slots = held.slots, []
        for gate, lease in slots:
            gate.give(lease)

    # --- holding slot leases -----------------------------------------------------------

    def hold(self, lease: Lease) -> None:
        if self.keeper is not None:
            self.keeper.hold(lease)
            return
        self._held[(lease.queue, lease.key)] = lease
        if self._renewing is None or self._renewing.done():
            self._renewing = asyncio.ensure_future(self._renew())

    def unhold(self, lease: Lease) -> None:
        if self.keeper is not None:
            self.keeper.release(lease)
        else:
            self._held.pop((lease.queue, lease.key), None)

    async def _renew(self) -> None:
        """Without a lease thread (an orchestrator used on its own): renew here."""
        while self._held:
            await asyncio.sleep(self.lease_for / 3)
            with contextlib.suppress(WorldError):
                await self.world.extend(list(self._held.values()), self.lease_for)

    def spawn(self, coro: Coroutine[Any, Any, Any]) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)


class _Gate:
    """One limit's queue, as this process sees it: local waiters and their pump."""

    def __init__(self, limiter: Limiter, limit: Limit) -> None:
        self.limiter = limiter
        self.limit = limit
        self.queue = limit.queue
        self._waiters: list[tuple[int, int, asyncio.Future[Lease]]] = []
        self._pump: asyncio.Task[None] | None = None
        self._seeded = False
        self._handoffs = 0
        # Slots given back with no local waiter, kept LINGER seconds: the next
        # step of a sequential run takes one without a round trip.
        self._idle: list[Lease] = []
        self._idle_timer: asyncio.TimerHandle | None = None
        self._pause_until = 0.0

    async def take(self, priority: int) -> Lease:
        if self._idle and not self._live():
            return self._idle.pop()
        if self._seeded and not self._live() and (self._pump is None or self._pump.done()) and (
            time.monotonic() >= self._pause_until
        ):
            # Nobody waits here: lease in this task, at once. The lease's write
            # then joins whatever commit is about to happen (the step's step_started).
            lease = await self._lease_one()
            if lease is not None:
                return lease
        fut: asyncio.Future[Lease] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._waiters, (-priority, next(_order), fut))
        if self._pump is None or self._pump.done():
            self._pump = asyncio.ensure_future(self._run())
        try:
            return await fut
        except asyncio.CancelledError:
            if fut.done() and not fut.cancelled():
                self.give(fut.result())  # granted as we were cancelled: pass it on
            raise

    async def _lease_one(self) -> Lease | None:
        world, limiter = self.limiter.world, self.limiter
        try:
            leases = await world.lease(self.queue, limiter.owner, limit=1, lease_for=self._lease_for())
        except WorldError:
            return None  # the pump retries
        for lease in leases:
            if int(lease.key.rpartition("#")[2]) >= self.limit.limit:
                limiter.spawn(world.ack(lease))  # a slot of a larger limit this one replaced
                return None
            if self.limit.kind == "concurrency":
                limiter.hold(lease)
            return lease
        return None

    def _lease_for(self) -> float:
        return self.limiter.lease_for if self.limit.kind == "concurrency" else self.limit.per + RATE_MARGIN

    def unused(self) -> bool:
        return not self._live() and not self._idle and (self._pump is None or self._pump.done())

    def _next_waiter(self) -> asyncio.Future[Lease] | None:
        while self._waiters:
            _, _, fut = heapq.heappop(self._waiters)
            if not fut.done():
                return fut
        return None

    def _live(self) -> int:
        return sum(1 for _, _, f in self._waiters if not f.done())

    def give(self, lease: Lease) -> None:
        """A slot back from its holder."""
        if self.limit.kind != "concurrency":
            return  # a token comes back by expiring
        if self._handoffs < MAX_HANDOFFS:
            fut = self._next_waiter()
            if fut is not None:
                self._handoffs += 1
                fut.set_result(lease)  # still held and renewed: it changes hands here
                return
            self._idle.append(lease)
            if self._idle_timer is None:
                self._idle_timer = asyncio.get_running_loop().call_later(LINGER, self.let_go)
            return
        self._handoffs = 0
        # Other processes get their turn: this one asks again only after a pause.
        self._pause_until = time.monotonic() + YIELD_SECONDS
        self._give_back(lease)

    def let_go(self) -> None:
        """Give the idle slots back to the world."""
        self._idle_timer = None
        idle, self._idle = self._idle, []
        for lease in idle:
            self._give_back(lease)

    def _give_back(self, lease: Lease) -> None:
        self.limiter.unhold(lease)
        self.limiter.spawn(self._ack(lease))

    async def _ack(self, lease: Lease) -> None:
        try:
            await self.limiter.world.ack(lease, requeue_after=0.0)
        except WorldError as exc:  # its lease expires: the slot comes back then
            log.warning("wdk: cannot give back a slot of %s: %s", self.queue, exc)
        if self._live() and (self._pump is None or self._pump.done()):
            self._pump = asyncio.ensure_future(self._run())

    async def _seed(self) -> None:
        """Make sure the limit's messages exist (a limit raised since gets the new ones)."""
        world = self.limiter.world
        await asyncio.gather(
            *(world.enqueue(self.queue, f"{self.queue}#{i}", only_if_absent=True) for i in range(self.limit.limit))
        )
        self._seeded = True

    async def _run(self) -> None:
        world, limiter = self.limiter.world, self.limiter
        lease_for = self._lease_for()
        while self._live():
            pause = self._pause_until - time.monotonic()
            if pause > 0:
                await asyncio.sleep(pause)
            try:
                if not self._seeded:
                    await self._seed()
                leases = await world.lease(self.queue, limiter.owner, limit=self._live(), lease_for=lease_for)
            except WorldError as exc:
                log.warning("wdk: waiting for %s: %s", self.queue, exc)
                await asyncio.sleep(POLL_SECONDS)
                continue
            for lease in leases:
                if int(lease.key.rpartition("#")[2]) >= self.limit.limit:
                    # A slot of a larger limit this one replaced: retire it.
                    limiter.spawn(world.ack(lease))
                    continue
                fut = self._next_waiter()
                if self.limit.kind == "concurrency":
                    limiter.hold(lease)
                    if fut is None:
                        self.give(lease)
                        continue
                if fut is not None:
                    self._handoffs = 0
                    fut.set_result(lease)
            if not leases:
                try:
                    await world.wait_for_messages(self.queue, POLL_SECONDS)
                except WorldError:
                    await asyncio.sleep(POLL_SECONDS)
