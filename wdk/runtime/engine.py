"""The runtime: a world, a queue consumer that advances runs, and a reconciler.

One Runtime belongs to one asyncio loop. The embedded runtime starts on the
first client call in a loop (`get_runtime()`); `wdk worker` runs the same
thing as a standalone process.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import os
import socket
import time
import uuid
import weakref
from collections.abc import Callable, Coroutine
from typing import Any

from wdk.errors import RunNotFound, WorldError
from wdk.runtime import logs, metrics, runs, serde, tracing
from wdk.runtime.config import make_world
from wdk.runtime.current import current_runtime as current_runtime  # kept importable from here
from wdk.runtime.current import runtimes
from wdk.runtime.leases import LeaseKeeper
from wdk.runtime.limiter import Limiter
from wdk.runtime.loader import Loader, default_loader
from wdk.runtime.orchestrator import Orchestrator
from wdk.runtime.runs import FLOW
from wdk.runtime.schedules import Scheduler
from wdk.settings import Settings, current_settings
from wdk.worlds.base import TERMINAL_STATUSES, Event, Lease, NewEvent, QueueDepth, RunInfo, World

log = logging.getLogger("wdk")

# A run's lease (settings.lease_seconds, 10 s by default): renewed every third
# of it (from a thread: see leases.py) while the run is advanced; a worker that
# died or froze loses its runs after this long (a restarted worker with the
# same id takes them back at once). The reconciler runs every
# settings.reconcile_seconds.
POLL_SECONDS = 1.0
CANCEL_CHECK_SECONDS = 1.0  # how soon a step notices its run was cancelled elsewhere
RELEASE_BACKOFF = 0.05  # first retry of a failed ack; doubles up to POLL_SECONDS
QUEUE_SAMPLE_SECONDS = 10.0  # how often the queue depth is read for OTel metrics


class Runtime:
    def __init__(
        self,
        world: World,
        *,
        loader: Loader | None = None,
        concurrency: int | None = None,
        owner: str | None = None,
        worker_id: str | None = None,
        settings: Settings | None = None,
    ) -> None:
        self.world = world
        self.settings = settings or current_settings()
        serde.set_max_bytes(self.settings.max_payload_bytes)
        self.loader = loader or default_loader()
        self.concurrency = concurrency or self.settings.concurrency
        self.owner = owner or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        # A consuming runtime holds a worker id (`wdk worker --id`, else the
        # lowest free `<host>-<n>`) and leases as `<owner>@<id>`: restarted
        # after a crash it takes the same id back and with it, at once, the
        # runs its predecessor held (see World.claim_worker_id).
        self.worker_id = worker_id
        self.orchestrator = Orchestrator(world, self.loader, on_terminal=self._run_finished, settings=self.settings)
        self._tasks: set[asyncio.Task[Any]] = set()
        self._active: dict[str, asyncio.Task[Any]] = {}
        # Runs of `_active` whose end this runtime has recorded (and announced)
        # while their task still runs (see `_wait_end`), with the terminal
        # event it committed (None: it ended otherwise).
        self._ended_here: dict[str, NewEvent | None] = {}
        self._waiters: dict[str, list[asyncio.Future[None]]] = {}
        self._slot_free = asyncio.Event()
        self._stopping = False
        self._background: list[asyncio.Task[Any]] = []
        self._keeper: LeaseKeeper | None = None
        self._lost: set[str] = set()  # runs whose lease another worker took
        tracing.enable(self.settings.otel)
        logs.install()

    # --- lifecycle ---------------------------------------------------------------

    async def start(self, *, consume: bool = True) -> None:
        await self.world.open()
        # With an OTel SDK meter provider set, wdk's metrics are published through it too.
        otel_metrics = self.settings.otel and metrics.install_otel()
        if consume:
            try:
                self.worker_id = await self.world.claim_worker_id(self.worker_id)
            except BaseException:
                await self.world.close()
                raise
            self.owner = f"{self.owner}@{self.worker_id}"
            self._keeper = LeaseKeeper(
                self.world.lease_renewer(), self.settings.lease_seconds, asyncio.get_running_loop(), self._lease_lost
            )
            # Slots of concurrency limits are leased like runs, by this owner, renewed by the same thread.
            self.orchestrator.limits.limiter = Limiter(self.world, self.owner, self.settings.lease_seconds, self._keeper)
            self._background = [
                asyncio.ensure_future(self._consume()),
                asyncio.ensure_future(self._reconcile_forever()),
            ]
            metrics.LEASES_HELD.sources.append(self._leases_held)
            metrics.RUNS_ACTIVE.sources.append(self._runs_active)
            if otel_metrics:
                # OTel collects without a store to ask: sample the queue's depth for it.
                self._background.append(asyncio.ensure_future(self._sample_queue_forever()))
            if self.settings.schedules:
                # wdk.schedule declarations of the modules this process imports (schedules.py).
                scheduler = Scheduler(self.world, self._start_scheduled)
                self._background.append(asyncio.ensure_future(scheduler.run_forever()))

    async def stop(self) -> None:
        """Stop taking work; release leased runs (they resume elsewhere or later)."""
        self._stopping = True
        for gauge, source in ((metrics.LEASES_HELD, self._leases_held), (metrics.RUNS_ACTIVE, self._runs_active)):
            with contextlib.suppress(ValueError):
                gauge.sources.remove(source)
        for task in self._background:
            task.cancel()
        await asyncio.gather(*self._background, return_exceptions=True)
        if not self._background:
            await self.world.close()

    def consumer_status(self) -> tuple[bool | None, str]:
        """(alive, detail) of the queue consumer; alive is None when this
        runtime runs none (a client-only runtime). For health checks."""
        if not self._background:
            return None, "none in this process (client-only: workers run the runs)"
        consumer = self._background[0]
        if self._stopping:
            return False, "the runtime is stopping"
        if not consumer.done():
            return True, f"running ({len(self._active)} runs in progress)"
        if consumer.cancelled():
            return False, "it was cancelled"
        exc = consumer.exception()
        return False, f"it stopped: {exc!r}" if exc is not None else "it stopped"

    def _leases_held(self) -> list[tuple[tuple[str, ...], float]]:
        held = self._keeper.held() if self._keeper is not None and not self._stopping else 0
        return [((self.worker_id or self.owner,), float(held))]

    def _runs_active(self) -> list[tuple[tuple[str, ...], float]]:
        return [((self.worker_id or self.owner,), float(len(self._active)))]

    async def queue_depth(self) -> QueueDepth:
        """The run queue's depth now, also kept for the `wdk_queue_depth` metric."""
        depth = await self.world.queue_depth(FLOW)
        metrics.QUEUE_DEPTH.last = {
            ("ready",): float(depth.ready), ("scheduled",): float(depth.scheduled), ("leased",): float(depth.leased)
        }
        return depth

    async def _sample_queue_forever(self) -> None:
        while not self._stopping:
            with contextlib.suppress(WorldError):
                await self.queue_depth()
            await asyncio.sleep(QUEUE_SAMPLE_SECONDS)

    # --- results -----------------------------------------------------------------

    def _run_finished(self, run_id: str, end: NewEvent | None = None) -> None:
        """The run ended; `end`: the terminal event this runtime committed for it
        (None: ended by another writer, or not known)."""
        if run_id in self._active:
            self._ended_here[run_id] = end
        self._wake_waiters(run_id)

    def _wake_waiters(self, run_id: str) -> None:
        for fut in self._waiters.pop(run_id, ()):
            _resolve(fut)

    async def wait_terminal(self, run_id: str, timeout: float | None = None) -> RunInfo:
        """Wait until a run ends. In-process completions wake us at once; a run
        finished by another process is seen by a slow poll."""
        run = await self._wait_end(run_id, timeout, recorded=False)
        assert isinstance(run, RunInfo)
        return run

    async def result(self, run_id: str, timeout: float | None = None) -> Any:
        """Wait until a run ends: its result (`runs.outcome`). A run whose end
        this runtime committed while advancing it is answered from that event,
        without reading the run's row (the read would also commit the run's
        ack on its own, which otherwise shares the next write's commit)."""
        end = await self._wait_end(run_id, timeout, recorded=True)
        if isinstance(end, RunInfo):
            return runs.outcome(end)
        return runs.recorded_outcome(run_id, end)

    async def _wait_end(self, run_id: str, timeout: float | None, *, recorded: bool) -> RunInfo | NewEvent:
        """The ended run's row, or with `recorded` the terminal event this
        runtime committed for it while its task still runs (`_run_finished`;
        forgotten when the task ends, so a later `retry()` is read, not missed)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        # A run advanced here that has not ended here yet: its end wakes us (and
        # so does its task ending, whatever happened), so the first read waits
        # for that instead of finding the run unfinished. It exists (it is
        # leased here): a store that goes away meanwhile is waited out.
        read = run_id not in self._active or run_id in self._ended_here
        seen = not read
        while True:
            if recorded:
                end = self._ended_here.get(run_id)
                if end is not None:
                    return end
            if read:
                run = await self._read_run(run_id, seen)
                if run is not None and run.status in TERMINAL_STATUSES:
                    return run
                seen = True
            read = True
            wait = POLL_SECONDS
            if deadline is not None:
                wait = min(wait, deadline - time.monotonic())
                if wait <= 0:
                    raise TimeoutError(f"run {run_id} did not finish within {timeout} s")
            loop = asyncio.get_running_loop()
            fut: asyncio.Future[None] = loop.create_future()
            self._waiters.setdefault(run_id, []).append(fut)
            # The poll's timer resolves the future itself: cheaper than
            # wait_for(shield(fut)) (two more futures, a task-like waiter).
            timer = loop.call_later(wait, _resolve, fut)
            try:
                await fut
            finally:
                timer.cancel()

    async def _read_run(self, run_id: str, seen: bool) -> RunInfo | None:
        """The run's row for `wait_terminal`; None when the store went away
        after the run was found (a restart: keep waiting)."""
        try:
            run = await self.world.get_run(run_id)
        except WorldError as exc:
            if not seen:
                raise
            log.warning("wdk: waiting for run %s: %s", run_id, exc)
            return None
        if run is None:
            raise RunNotFound(run_id)
        return run

    # --- what clients ask (wdk.client, the HTTP server, child runs) ------------------

    async def start_run(
        self,
        workflow: str | Callable[..., Any],
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        *,
        idempotency_key: str | None = None,
        parent_run_id: str | None = None,
        priority: int = 0,
        debounce: tuple[float, str] | None = None,
    ) -> str:
        """Create a run of `workflow` (an id, or the workflow function) and
        queue it in one round trip; its id. When this runtime can advance it
        now, the run is leased to it as it is created and starts at once
        (`runs.start_run`). `debounce=(seconds, key)`: starts with one key
        within the window make one run, with the last arguments, begun when
        the window closes (World.debounce_run)."""
        new, fn = runs.prepare_run(
            self.loader, workflow, args, kwargs,
            idempotency_key=idempotency_key, parent_run_id=parent_run_id, priority=priority,
        )
        if debounce is not None:
            window, key = debounce
            info, _ = await self.world.debounce_run(new, FLOW, f"{new.workflow_id}\n{key}", window)
            return info.id
        info, lease, first = await runs.start_run(
            self.world, new, owner=self.adoptive_owner(), lease_for=self.settings.lease_seconds
        )
        if lease is not None and first is not None:
            self.adopt(lease, [first], fn)
        return info.id

    async def _start_scheduled(self, workflow_id: str, idempotency_key: str) -> str:
        return await self.start_run(workflow_id, (), {}, idempotency_key=idempotency_key)

    async def rerun(self, run_id: str, from_step: int | None = None) -> str:
        """Start a new run with `run_id`'s input that reuses the recorded
        results of its steps before `from_step` (None: every completed one);
        the new run's id (`runs.rerun_plan`)."""
        workflow_id, args, kwargs, plan = await runs.rerun_plan(self.world, run_id, from_step)
        new, fn = runs.prepare_run(self.loader, workflow_id, args, kwargs, rerun=plan)
        info, lease, first = await runs.start_run(
            self.world, new, owner=self.adoptive_owner(), lease_for=self.settings.lease_seconds
        )
        if lease is not None and first is not None:
            self.adopt(lease, [first], fn)
        return info.id

    async def retry(self, run_id: str) -> str:
        """Continue a run failed by a step, same id (`runs.retry_run`); the step's id."""
        step = await runs.retry_run(self.world, run_id)
        self._ended_here.pop(run_id, None)  # its recorded failure is no longer its end
        return step

    async def cancel(self, run_id: str) -> None:
        """End the run `cancelled` wherever it is (no-op once it ended); its
        steps running in this process are cancelled too."""
        if await runs.cancel_run(self.world, run_id):
            self.orchestrator.cancel_local(run_id)
            self._run_finished(run_id)

    async def resume_hook(self, token: str, payload: Any) -> str:
        """Deliver `payload` to the live hook `token`; its run's id (`runs.resume_hook`)."""
        return await runs.resume_hook(self.world, token, payload)

    # --- queue consumer ------------------------------------------------------------

    async def _consume(self) -> None:
        try:
            await self._consume_forever()
        finally:
            # The loop is going away (asyncio.run returning, or stop()): let the
            # in-flight runs hand their leases back, then close the store.
            for task in list(self._active.values()):
                task.cancel()
            await asyncio.gather(*self._active.values(), return_exceptions=True)
            if self.orchestrator.limits.limiter is not None:
                with contextlib.suppress(Exception):
                    await self.orchestrator.limits.limiter.close()
            if self._keeper is not None:
                self._keeper.close()
            await self.world.close()

    async def _consume_forever(self) -> None:
        while not self._stopping:
            free = self.concurrency - len(self._active)
            leases: list[Lease] = []
            if free > 0:
                try:
                    leases = await self.world.lease(FLOW, self.owner, limit=free, lease_for=self.settings.lease_seconds)
                except WorldError as exc:
                    log.error("wdk: cannot lease work: %s", exc)
                    await asyncio.sleep(POLL_SECONDS)
                    continue
            for lease in leases:
                task = asyncio.ensure_future(self._process(lease))
                self._active[lease.key] = task
                task.add_done_callback(functools.partial(self._done, lease.key))
            if leases:
                await asyncio.sleep(0)
                continue
            if free <= 0:
                self._slot_free.clear()
                await self._slot_free.wait()
                continue
            try:
                # Returns at once when a message is due, else on a wake-up (an
                # enqueue) or when the earliest message falls due.
                await self.world.wait_for_messages(FLOW, POLL_SECONDS)
            except WorldError as exc:
                # The store went away: keep trying, it may come back.
                log.error("wdk: waiting for work: %s", exc)
                await asyncio.sleep(POLL_SECONDS)

    def adoptive_owner(self) -> str | None:
        """The owner to lease a run to as `start()` creates it (this runtime
        advances it at once: no lease call, no read of its log), or None when
        this runtime does not consume or has no free slot."""
        if self._keeper is None or self._stopping or len(self._active) >= self.concurrency:
            return None
        return self.owner

    def adopt(self, lease: Lease, known: list[Event], fn: Callable[..., Any] | None = None) -> None:
        """Advance a run leased to us by `start()`; `known` is its whole log so
        far, `fn` its workflow function as `start()` loaded it and checked its
        arguments against (not loaded or checked again)."""
        task = asyncio.ensure_future(self._process(lease, known, fn))
        self._active[lease.key] = task
        task.add_done_callback(functools.partial(self._done, lease.key))

    def _done(self, key: str, _task: asyncio.Task[Any]) -> None:
        self._active.pop(key, None)
        self._ended_here.pop(key, None)
        self._wake_waiters(key)  # see wait_terminal: they read the run again
        self._slot_free.set()

    async def _process(
        self, lease: Lease, known: list[Event] | None = None, fn: Callable[..., Any] | None = None
    ) -> None:
        heartbeat = _Later(CANCEL_CHECK_SECONDS, functools.partial(self._heartbeat, lease))
        if self._keeper is not None:
            self._keeper.hold(lease)
        next_at: float | None = None
        try:
            next_at = await self.orchestrator.advance(
                lease.key, functools.partial(self._still_held, lease), known=known, fn=fn
            )
        except asyncio.CancelledError:
            heartbeat.cancel()
            if self._let_go(lease):
                return  # another worker owns the run now: hand nothing back
            # Shutting down: hand the run back at once rather than holding its lease.
            with contextlib.suppress(Exception):
                await self.world.ack(lease, requeue_after=0.0)
            raise
        except RunNotFound:
            next_at = None
        except Exception:
            # Once a minute per run at most (logs.RepeatFilter), not once a poll.
            log.exception(
                "wdk: advancing run %s failed; retrying later", lease.key, extra=logs.ids("advance_error", lease.key)
            )
            next_at = time.time() + POLL_SECONDS
        finally:
            heartbeat.cancel()
        if self._let_go(lease):
            return
        await self._release(lease, next_at)

    def _let_go(self, lease: Lease) -> bool:
        """Stop renewing `lease`; True when another worker took the run meanwhile."""
        if self._keeper is not None:
            self._keeper.release(lease)
        if lease.key in self._lost:
            self._lost.discard(lease.key)
            return True
        return False

    async def _still_held(self, lease: Lease) -> bool:
        """Whether this worker still holds the run (renewing it on the way): the
        orchestrator asks before it acts on a log that changed under it."""
        try:
            lost = await self.world.extend([lease], self.settings.lease_seconds)
        except WorldError:
            return True  # cannot tell: the next append's expected seq still fences
        if lost:
            self._lost.add(lease.key)
            return False
        return True

    def _lease_lost(self, lease: Lease) -> None:
        """Called from the lease thread: another worker took this run."""
        task = self._active.get(lease.key)
        if task is not None and not task.done():
            self._lost.add(lease.key)
            task.cancel()

    async def _release(self, lease: Lease, next_at: float | None) -> None:
        """Ack the run's message, retrying while the store is away (a restart):
        left to its lease, the run would wait out the lease."""
        backoff, deadline = RELEASE_BACKOFF, time.monotonic() + self.settings.lease_seconds
        while True:
            delay = None if next_at is None else max(0.0, next_at - time.time())
            try:
                await self.world.ack(lease, requeue_after=delay)
                return
            except WorldError as exc:
                if self._stopping or time.monotonic() + backoff > deadline:
                    log.error("wdk: cannot release run %s: %s (its lease will expire)", lease.key, exc)
                    return
                log.warning("wdk: cannot release run %s yet, retrying: %s", lease.key, exc)
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, POLL_SECONDS)

    async def _heartbeat(self, lease: Lease) -> None:
        """While a run is advanced here, notice when it was cancelled from
        another process (its in-flight steps are cancelled). The lease itself is
        renewed by the lease thread. Started once the run has been here for
        CANCEL_CHECK_SECONDS (see `_Later`)."""
        while True:
            try:
                run = await self.world.get_run(lease.key)
            except WorldError as exc:
                log.warning("wdk: cannot check run %s: %s", lease.key, exc)
            else:
                if run is not None and run.status in TERMINAL_STATUSES:
                    self.orchestrator.cancel_local(lease.key)
                    return
            await asyncio.sleep(CANCEL_CHECK_SECONDS)

    # --- reconciler ----------------------------------------------------------------

    async def reconcile(self) -> int:
        """Queue every unfinished run: messages are hints, the log is the truth."""
        ids = await self.world.active_run_ids()
        for i in range(0, len(ids), 500):
            # Concurrent enqueues share one commit in worlds that group them.
            chunk = ids[i : i + 500]
            await asyncio.gather(*(self.world.enqueue(FLOW, r, only_if_absent=True) for r in chunk))
        return len(ids)

    async def _reconcile_forever(self) -> None:
        while not self._stopping:
            try:
                await self.reconcile()
            except WorldError as exc:
                log.error("wdk: reconciler: %s", exc)
            await asyncio.sleep(self.settings.reconcile_seconds)


def _resolve(fut: asyncio.Future[None]) -> None:
    if not fut.done():
        fut.set_result(None)


class _Later:
    """A task started only after `delay` seconds, unless cancelled first: most
    runs are advanced in milliseconds, and a timer costs less than a task."""

    def __init__(self, delay: float, make: Callable[[], Coroutine[Any, Any, None]]) -> None:
        self._task: asyncio.Task[None] | None = None
        self._timer = asyncio.get_running_loop().call_later(delay, self._start, make)

    def _start(self, make: Callable[[], Coroutine[Any, Any, None]]) -> None:
        self._task = asyncio.ensure_future(make())

    def cancel(self) -> None:
        self._timer.cancel()
        if self._task is not None:
            self._task.cancel()


_runtimes = runtimes  # wdk.runtime.current keeps it, for current_runtime()
_starting: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Future[Runtime]] = (
    weakref.WeakKeyDictionary()
)


async def get_runtime(*, consume: bool | None = None) -> Runtime:
    """The running loop's runtime, started on first use from the configuration.

    `consume=False` (or `configure(worker=False)`, or WDK_EMBEDDED_WORKER=0)
    starts a client-only runtime: it starts and follows runs while `wdk worker`
    processes advance them. It only matters for the call that starts it."""
    loop = asyncio.get_running_loop()
    rt = _runtimes.get(loop)
    if rt is not None:
        return rt
    pending = _starting.get(loop)
    if pending is not None:
        return await asyncio.shield(pending)
    fut: asyncio.Future[Runtime] = loop.create_future()
    _starting[loop] = fut
    try:
        settings = current_settings()
        rt = Runtime(make_world(settings), settings=settings)
        await rt.start(consume=settings.worker if consume is None else consume)
        _runtimes[loop] = rt
        fut.set_result(rt)
        return rt
    except BaseException as exc:
        fut.set_exception(exc)
        fut.exception()  # retrieved: callers that awaited it got it already
        raise
    finally:
        _starting.pop(loop, None)


def install_runtime(rt: Runtime) -> None:
    """Make `rt` the running loop's runtime, the one `get_runtime()` and
    `current_runtime()` return in this loop, for a process that builds its
    runtime itself (`wdk worker`). Without it, the first client call in the
    loop (a step starting a child run) would start a second runtime, with a
    second connection to the store and a second queue consumer."""
    loop = asyncio.get_running_loop()
    have = _runtimes.get(loop)
    if (have is not None and have is not rt) or loop in _starting:
        raise RuntimeError("this event loop already has a wdk runtime")
    _runtimes[loop] = rt


async def shutdown_runtime() -> None:
    """Stop the running loop's runtime (if any) and forget it: the next client
    call in this loop starts a new one from the configuration."""
    rt = _runtimes.pop(asyncio.get_running_loop(), None)
    if rt is not None:
        await rt.stop()

