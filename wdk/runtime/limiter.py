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

Order across processes: a process with waiters holds a place in the limit's
line in the world (`World.wait_in_line`: its best waiter's priority and
arrival time, renewed like a lease, dropped when its process dies), and
leases only for its waiters that come before every other process's place
(`World.lease_in_line`). So a freed slot goes to the best waiter of any
process: by priority, then arrival.

Waiting never spins on the store: one pump per queue and process leases for
all its local waiters at once, then sleeps in `World.wait_for_messages` (a
NOTIFY, an in-process wake-up, or the time a lease expires), or looks at the
line again every LINE_POLL while another process's waiter goes first.

What stays cheap: a limit nobody waits for costs one lease (in the commit of
the step's `step_started` on the local world) and one ack per execution, and
usually less. A slot released while a local waiter waits goes to it directly,
and one released with no waiter stays here for the next step -- both only
while this process's last look at the line (at its last lease) is less than
LINGER old and found no better waiter elsewhere; after that it goes back to
the world. A rate limit that does not bind leases tokens in batches (up to
MAX_BATCH, doubling while all are used) and keeps the spare ones for
READY_WITHIN (a token's period runs from its lease), then gives back the
unused ones (no start counted them) and asks for fewer.
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

LINGER = 0.02  # seconds a look at the line lets this process pass slots on without asking the world
LINE_POLL = 0.02  # how often a process behind another process's waiter looks at the line again
# A token's period runs from its lease: the work must start within READY_WITHIN
# of it (else `Limiter.ready` restarts the period), and the token comes back
# RATE_MARGIN after `per`, so the step's code has RATE_MARGIN - READY_WITHIN
# more to begin (a loaded machine can pause a process that long).
READY_WITHIN = 0.025
RATE_MARGIN = 0.1
MAX_BATCH = 64  # tokens leased at once, at most (see _Gate._grow)
POLL_SECONDS = 1.0
MAX_GATES = 1000  # limits (one per key value) remembered per process before idle ones are forgotten
_order = itertools.count()

Place = tuple[int, float]  # (priority, arrival time): higher priority first, then earlier


def ahead(place: Place, other: Place | None) -> bool:
    """Whether `place` comes before `other` in a line (None: nobody)."""
    return other is None or place[0] > other[0] or (place[0] == other[0] and place[1] < other[1])


class Held:
    """What one acquisition holds: the slots to give back (tokens are not),
    and the tokens with when they were granted (see `Limiter.ready`)."""

    def __init__(self) -> None:
        self.slots: list[tuple[_Gate, Lease]] = []
        self.tokens: list[tuple[Lease, float, float]] = []  # (lease, its period, granted at)

    def add(self, gate: _Gate, lease: Lease, at: float) -> None:
        if gate.rate:
            self.tokens.append((lease, gate.limit.per, at))
        else:
            self.slots.append((gate, lease))


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
        self._last: tuple[Limit, _Gate] | None = None

    def _gate(self, limit: Limit) -> _Gate:
        last = self._last
        if last is not None and last[0] is limit and self._gates.get(last[1].queue) is last[1]:
            return last[1]  # the same limit as the last call (a step's limits are resolved once)
        gate = self._gates.get(limit.queue)
        if gate is None or gate.limit != limit:
            gate = self._gates[limit.queue] = _Gate(self, limit)
        self._last = (limit, gate)
        return gate

    def start(self, limits: Sequence[Limit], priority: int = 0) -> Held | asyncio.Future[Held]:
        """`acquire` begun: what it holds at once (no task, no round trip) when
        slots and tokens kept here serve every limit, else its task."""
        held = self._take_kept(limits, priority)
        if held is not None:
            return held
        return asyncio.ensure_future(self.acquire(limits, priority))

    def _take_kept(self, limits: Sequence[Limit], priority: int) -> Held | None:
        place = (priority, time.time())
        if len(limits) == 1:  # the common case, without the lists
            gate = self._gate(limits[0])
            item = gate.take_spare(place)
            if item is None:
                return None
            held = Held()
            held.add(gate, *item)
            return held
        taken: list[tuple[_Gate, tuple[Lease, float]]] = []
        for limit in limits:
            gate = self._gate(limit)
            item = gate.take_spare(place)
            if item is None:
                for g, back in taken:
                    g.put_back(back)
                return None
            taken.append((gate, item))
        held = Held()
        for gate, (lease, at) in taken:
            held.add(gate, lease, at)
        return held

    async def acquire(self, limits: Sequence[Limit], priority: int = 0) -> Held:
        if len(self._gates) > MAX_GATES:
            self._prune()
        held = Held()
        try:
            for limit in sorted(limits, key=lambda x: x.kind != "concurrency"):
                gate = self._gate(limit)
                lease, at = await gate.take(priority)
                held.add(gate, lease, at)
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

    def needs_ready(self, held: Held) -> bool:
        """Whether `ready` has anything to do (a token leased a while ago)."""
        if not held.tokens:
            return False
        now = time.monotonic()
        return any(now - at > READY_WITHIN for _, _, at in held.tokens)

    async def ready(self, held: Held) -> None:
        """Call just before the work starts. A token's period runs from its
        lease; if the work starts later than READY_WITHIN after it (a busy
        loop, a slot awaited after the token), the period is restarted now, so
        no window of `per` sees more than `limit` starts."""
        if not held.tokens:
            return
        now = time.monotonic()
        stale = [(lease, per) for lease, per, at in held.tokens if now - at > READY_WITHIN]
        for lease, per in stale:
            with contextlib.suppress(WorldError):
                await self.world.extend([lease], per + RATE_MARGIN)

    async def close(self) -> None:
        """Stop waiting and give every slot kept here back now (the runtime is stopping)."""
        pumps = [g._pump for g in self._gates.values() if g._pump is not None and not g._pump.done()]
        for pump in pumps:
            pump.cancel()
        await asyncio.gather(*pumps, return_exceptions=True)
        if self._renewing is not None:
            self._renewing.cancel()
        for gate in self._gates.values():
            if gate._timer is not None:
                gate._timer.cancel()
            gate.let_go()
        while self._tasks:
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
    """One limit's queue, as this process sees it: local waiters, its place in
    the world's line, slots or tokens kept here for a moment, and the pump."""

    def __init__(self, limiter: Limiter, limit: Limit) -> None:
        self.limiter = limiter
        self.limit = limit
        self.queue = limit.queue
        self.rate = limit.kind == "rate"
        # How long a look at the line lets slots pass on here (a token's
        # period began at its lease: it starts work only within READY_WITHIN of it).
        self._fresh_s = min(LINGER, READY_WITHIN) if self.rate else LINGER
        self._waiters: list[tuple[int, float, int, asyncio.Future[Lease]]] = []  # (-priority, arrival, n, fut)
        self._pump: asyncio.Task[None] | None = None
        self._seeded = False
        # Slots given back with no local waiter, or tokens leased ahead of
        # need: (lease, when leased). Used only while this process's look at
        # the line is fresh (see `_usable`), then given back.
        self._spare: list[tuple[Lease, float]] = []
        self._timer: asyncio.TimerHandle | None = None  # gives back what is kept when it goes stale
        self._timer_for = 0.0  # the look at the line the timer was set for
        self._checked_at = -1e9  # (monotonic) the last look at the world's line
        self._rival: Place | None = None  # the best other process's place then
        self._placed: Place | None = None  # this process's place in the line
        self._placed_until = 0.0
        self._batch = 1  # tokens asked for at once (adaptive, see `_grow`)
        self._asking = False
        self._used = 0  # spare tokens used since the last batch

    # --- taking ----------------------------------------------------------------------

    def take_spare(self, place: Place) -> tuple[Lease, float] | None:
        """A slot or token kept here, if `place` may have it without asking the world."""
        if not self._spare or (self._waiters and self._live()) or not self._usable(place):
            return None
        self._used += 1
        return self._spare.pop()

    def put_back(self, item: tuple[Lease, float]) -> None:
        self._spare.append(item)

    def _usable(self, place: Place) -> bool:
        """Whether `place` goes before every waiter of other processes, as of
        a look at the line less than LINGER ago (a token: also leased then)."""
        return time.monotonic() - self._checked_at < self._fresh_s and ahead(place, self._rival)


    async def take(self, priority: int) -> tuple[Lease, float]:
        """A slot or token, and when it was leased (monotonic)."""
        place = (priority, time.time())
        spare = self.take_spare(place)
        if spare is not None:
            return spare
        if self._seeded and not self._asking and not self._live() and (self._pump is None or self._pump.done()):
            # Nobody waits here: ask at once, in this task. The lease's write
            # then joins whatever commit is about to happen (the step's step_started).
            # (Only one such ask at a time: the others queue, in order.)
            want = self._batch if self.rate else 1
            self._asking = True
            try:
                leases = await self._lease([place] * want)
            finally:
                self._asking = False
            if leases:
                self._grow(len(leases), want)
                for extra in leases[1:]:
                    self._keep(extra)
                return leases[0], time.monotonic()
        fut: asyncio.Future[Lease] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._waiters, (-priority, place[1], next(_order), fut))
        if self._pump is None or self._pump.done():
            self._pump = asyncio.ensure_future(self._run())
        try:
            return await fut, time.monotonic()
        except asyncio.CancelledError:
            if fut.done() and not fut.cancelled():
                self.give(fut.result())  # granted as we were cancelled: pass it on
            raise

    def _grow(self, got: int, want: int) -> None:
        """Tokens asked for at once: more while all come and all are used,
        one when the limit binds (no process hoards what others wait for)."""
        if not self.rate:
            return
        if got < want:
            self._batch = 1
        elif not self._spare:
            self._batch = min(self._batch * 2, MAX_BATCH, max(1, self.limit.limit // 8))
        self._used = 0

    async def _lease(self, places: Sequence[Place]) -> list[Lease]:
        """Lease for `places` in the world's line order; remembers the rival."""
        world, limiter = self.limiter.world, self.limiter
        try:
            leases, rival = await world.lease_in_line(self.queue, limiter.owner, places, lease_for=self._lease_for())
        except WorldError as exc:
            log.warning("wdk: waiting for %s: %s", self.queue, exc)
            return []
        self._checked_at, self._rival = time.monotonic(), rival
        good: list[Lease] = []
        for lease in leases:
            if int(lease.key.rpartition("#")[2]) >= self.limit.limit:
                limiter.spawn(world.ack(lease))  # a slot of a larger limit this one replaced: retire it
                continue
            if not self.rate:
                limiter.hold(lease)
            good.append(lease)
        return good

    def _lease_for(self) -> float:
        return self.limit.per + RATE_MARGIN if self.rate else self.limiter.lease_for

    def unused(self) -> bool:
        return not self._live() and not self._spare and (self._pump is None or self._pump.done())

    def _peek(self) -> tuple[Place, asyncio.Future[Lease]] | None:
        """The best live local waiter (dropping cancelled ones)."""
        while self._waiters:
            neg, arrival, _, fut = self._waiters[0]
            if not fut.done():
                return (-neg, arrival), fut
            heapq.heappop(self._waiters)
        return None

    def _serve(self, lease: Lease) -> bool:
        """Give `lease` to the best local waiter; False when there is none."""
        head = self._peek()
        if head is None:
            return False
        heapq.heappop(self._waiters)
        head[1].set_result(lease)
        if self._placed is not None:
            # Our place in the line is our best waiter's: move it now, not at
            # the pump's next turn (other processes defer to it meanwhile).
            self.limiter.spawn(self._move())
        return True

    async def _move(self) -> None:
        head = self._peek()
        await self._hold_place(None if head is None else head[0], self.limiter.lease_for)

    def _live(self) -> int:
        return sum(1 for _, _, _, f in self._waiters if not f.done())

    # --- giving back -----------------------------------------------------------------

    def give(self, lease: Lease) -> None:
        """A slot back from its holder: to the best local waiter when it goes
        before every other process's (as seen less than LINGER ago), else to
        the world (which grants it in line order)."""
        if self.rate:
            return  # a token comes back by expiring
        head = self._peek()
        if head is not None:
            if self._usable(head[0]):
                self._serve(lease)  # still held and renewed: it changes hands here
            else:
                self._give_back(lease)
            return
        if self._rival is None and self._fresh():
            self._keep(lease)  # for this process's next step, for LINGER at most
        else:
            self._give_back(lease)

    def _fresh(self) -> bool:
        return time.monotonic() - self._checked_at < self._fresh_s

    def _keep(self, lease: Lease) -> None:
        """Keep `lease` here while the last look at the line is fresh; then give it back."""
        now = time.monotonic()
        self._spare.append((lease, now))
        if self._timer is not None and self._timer_for == self._checked_at:
            return
        if self._timer is not None:
            self._timer.cancel()
        self._timer_for = self._checked_at
        delay = max(0.0, self._checked_at + self._fresh_s - now)
        self._timer = asyncio.get_running_loop().call_later(delay, self.let_go)

    def let_go(self) -> None:
        """Give back what is kept here: slots to the world; tokens never used
        too (no start counted them), and fewer are asked for next time."""
        self._timer = None
        spare, self._spare = self._spare, []
        if not spare:
            return
        if self.rate:
            # As many as were used: one write gives the rest back (their leases end now).
            self._batch = max(1, min(self._batch, self._used + 1))
            self.limiter.spawn(self._expire([lease for lease, _ in spare]))
            return
        for lease, _ in spare:
            self._give_back(lease)

    async def _expire(self, leases: list[Lease]) -> None:
        try:
            await self.limiter.world.extend(leases, 0.0)
        except WorldError as exc:  # they come back when their leases expire
            log.warning("wdk: cannot give back tokens of %s: %s", self.queue, exc)

    def _give_back(self, lease: Lease) -> None:
        if not self.rate:
            self.limiter.unhold(lease)
        self.limiter.spawn(self._ack(lease))

    async def _ack(self, lease: Lease) -> None:
        try:
            await self.limiter.world.ack(lease, requeue_after=0.0)
        except WorldError as exc:  # its lease expires: it comes back then
            log.warning("wdk: cannot give back a slot of %s: %s", self.queue, exc)
        if self._live() and (self._pump is None or self._pump.done()):
            self._pump = asyncio.ensure_future(self._run())

    # --- the pump --------------------------------------------------------------------

    async def _seed(self) -> None:
        """Make sure the limit's messages exist (a limit raised since gets the new ones)."""
        world = self.limiter.world
        await asyncio.gather(
            *(world.enqueue(self.queue, f"{self.queue}#{i}", only_if_absent=True) for i in range(self.limit.limit))
        )
        self._seeded = True

    async def _run(self) -> None:
        """Lease for the local waiters in line order, hold this process's place
        in the line meanwhile, and sleep until a slot or token may be free."""
        ttl = self.limiter.lease_for
        try:
            while self._live():
                try:
                    if not self._seeded:
                        await self._seed()
                except WorldError as exc:
                    log.warning("wdk: waiting for %s: %s", self.queue, exc)
                    await asyncio.sleep(POLL_SECONDS)
                    continue
                while self._spare and (head := self._peek()) is not None and self._usable(head[0]):
                    self._serve(self._spare.pop()[0])  # kept here: to the best waiter
                waiting = sorted(w for w in self._waiters if not w[3].done())
                if not waiting:
                    continue
                leases = await self._lease([(-neg, arrival) for neg, arrival, _, _ in waiting])
                for lease in leases:
                    if not self._serve(lease) and not self.rate:
                        self.give(lease)
                head = self._peek()
                await self._hold_place(None if head is None else head[0], ttl)
                if head is None or leases:
                    continue
                if not ahead(head[0], self._rival):
                    await asyncio.sleep(LINE_POLL)  # another process's waiter goes first
                    continue
                try:
                    await self.limiter.world.wait_for_messages(self.queue, min(POLL_SECONDS, ttl / 3))
                except WorldError:
                    await asyncio.sleep(POLL_SECONDS)
        finally:
            if self._placed is not None:
                self._placed = None
                self.limiter.spawn(self._leave())

    async def _hold_place(self, place: Place | None, ttl: float) -> None:
        """This process's place in the line: its best waiter's, renewed before it expires."""
        if place == self._placed and (place is None or time.monotonic() < self._placed_until - ttl / 2):
            return
        try:
            await self.limiter.world.wait_in_line(self.queue, self.limiter.owner, place, ttl=ttl)
        except WorldError as exc:
            log.warning("wdk: waiting for %s: %s", self.queue, exc)
            return
        self._placed, self._placed_until = place, time.monotonic() + ttl

    async def _leave(self) -> None:
        with contextlib.suppress(WorldError):
            await self.limiter.world.wait_in_line(self.queue, self.limiter.owner, None)
