"""Advancing one run: the flow handler.

`advance(run_id)` is called by whoever holds the run's queue message. It
brings the run's WorkflowInstance up to date with the log (warm from the
cache, or a cold replay), then loops: collect what the workflow asked for
and what is due, append it in ONE commit, run the steps that commit started
(eagerly, in this process), and fold their outcomes into the next commit.

The invariant that makes this crash-safe: new events are applied to the
instance before they are appended (so a step's completion and the next
step's creation share a commit), but nothing leaves the process -- no step
starts, no client is answered -- until the commit that records it returned.
If the append fails, the instance is thrown away and rebuilt from the log.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

from wdk.errors import (
    ConflictError,
    HookConflict,
    NonDeterminismError,
    RunNotFound,
    WdkError,
    WorldError,
)
from wdk.runtime import observe, serde, tracing
from wdk.runtime.blocking import BlockedRuns
from wdk.runtime.instance import (
    CREATED,
    RETRYING,
    STARTED,
    HookCall,
    StepCall,
    WaitCall,
    WorkflowInstance,
)
from wdk.runtime.limiter import Held
from wdk.runtime.loader import Loader
from wdk.runtime.logs import ids
from wdk.runtime.step_limits import StepLimits
from wdk.runtime.steps import Outcome, RunningStep, attempt_key, run_attempt
from wdk.runtime.streams import roll_back_attempt
from wdk.settings import Settings, current_settings
from wdk.worlds.base import TERMINAL_TYPES, Event, NewEvent, World

log = logging.getLogger("wdk")

# A run whose code cannot be loaded is retried rather than failed: fixing the
# code (and restarting the worker) resumes it with nothing lost. The first
# retry comes after settings.load_retry seconds, each next one after twice as
# long, up to LOAD_RETRY_MAX: short, because a fresh worker inherits the queued time.
LOAD_RETRY_MAX = 30.0
# settings.max_recoveries: how often one attempt of a step may be restarted
# because the worker running it died. Such restarts are not the step's
# failures and use none of its retries; this bound only stops a step that
# kills its worker every time.
APPEND_BACKOFF_MAX = 1.0  # seconds between tries while the store is away

StepTask = asyncio.Task[tuple[StepCall, Outcome]]


class _CannotLoad(WdkError):
    """The run's workflow code cannot be loaded here (yet): retried, never failed."""

_INLINE = "<inline>"


class Orchestrator:
    def __init__(
        self,
        world: World,
        loader: Loader,
        *,
        cache_size: int | None = None,
        on_terminal: Callable[[str, NewEvent | None], None] | None = None,
        settings: Settings | None = None,
    ) -> None:
        self.world = world
        self.loader = loader
        self.settings = settings or current_settings()
        self.cache_size = cache_size or self.settings.warm_runs
        self._cache: OrderedDict[str, WorkflowInstance] = OrderedDict()
        self._running: dict[str, dict[str, StepTask]] = {}
        self._on_terminal = on_terminal
        # Correlation ids of hooks whose token was taken: recorded as conflicts.
        self._hook_conflicts: set[str] = set()
        self._load_failed: dict[str, int] = {}  # run id -> failed loads in a row
        # Step executions found dead by _collect: their stream chunks are rolled back before the next commit.
        self._dead_attempts: dict[str, list[str]] = {}
        self.limits = StepLimits(world, loader, self.settings)  # flow control (step_limits.py)
        self.blocked = BlockedRuns(world, loader)

    # --- cache ------------------------------------------------------------------

    def _evict(self, inst: WorkflowInstance) -> None:
        inst.close()

    def _keep(self, inst: WorkflowInstance) -> None:
        self._cache[inst.run_id] = inst
        while len(self._cache) > self.cache_size:
            _, old = self._cache.popitem(last=False)
            self._evict(old)

    def drop(self, run_id: str) -> None:
        inst = self._cache.pop(run_id, None)
        if inst is not None:
            self._evict(inst)

    def cancel_local(self, run_id: str) -> None:
        """Cancel this process's in-flight steps of a run (it was cancelled)."""
        for task in self._running.get(run_id, {}).values():
            task.cancel()

    async def _load(
        self, run_id: str, known: list[Event] | None = None, fn: Callable[..., Any] | None = None
    ) -> WorkflowInstance | None:
        """The run's instance, up to date with the log; None once the run ended
        (a terminal run never needs its code: it may not even load). `known`: the
        run's log as the caller knows it (a run it just created): not read
        again; if it is behind, the next append conflicts and the log is read.
        `fn`: with `known`, the workflow function the caller loaded and checked
        the run's arguments against when it created the run (`Runtime.adopt`)."""
        inst = self._cache.pop(run_id, None)
        if known is not None and inst is None:
            events = known
        else:
            events = await self.world.read_events(run_id, inst.last_seq if inst else -1)
        if _ended(events):
            if inst is not None:
                inst.close()
            return None
        if inst is None:
            if not events or events[0].type != "run_created":
                raise RunNotFound(run_id)
            created = events[0]
            workflow_id = str(created.payload.get("workflow_id"))
            checked = fn is not None and known is not None
            if fn is None or known is None:  # `not checked`, spelled out for the type checker
                try:
                    fn = self.loader.workflow_function(workflow_id)
                except Exception as exc:  # broken user code: any error while loading it
                    raise _CannotLoad(f"{workflow_id}: {type(exc).__name__}: {exc}") from exc
            inst = WorkflowInstance(
                run_id, workflow_id, fn, created, self.loader.sandbox, await self.world.store_secret(),
                arguments_checked=checked,
            )
        try:
            inst.know_history(events)
            for event in events:
                inst.apply(event)
        except BaseException:
            inst.close()
            raise
        return inst

    # --- the flow handler ---------------------------------------------------------

    async def advance(
        self,
        run_id: str,
        still_held: Callable[[], Awaitable[bool]] | None = None,
        *,
        known: list[Event] | None = None,
        fn: Callable[..., Any] | None = None,
    ) -> float | None:
        """Make all the progress possible now. Returns when the run next needs
        attention (unix time), or None (finished, or waiting on the outside).

        `still_held()` says whether this worker still holds the run's lease:
        asked when the log changed under us, before anything is redone.
        `known`: the run's whole log, when the caller knows it, and `fn` its
        workflow function, when the caller created the run (see `_load`)."""
        if known is None and self.blocked.unchanged(run_id):
            return None  # blocked here against this very code: replaying it again finds the same
        try:
            inst = await self._load(run_id, known, fn)
        except NonDeterminismError as exc:
            await self._diverged(run_id, exc)
            return None
        except _CannotLoad as exc:
            # Said once per run and process (no traceback); the retries, ever
            # further apart, are quiet.
            failures = self._load_failed.get(run_id, 0) + 1
            self._load_failed[run_id] = failures
            delay: float = min(self.settings.load_retry * 2.0 ** (failures - 1), LOAD_RETRY_MAX)
            level = logging.ERROR if failures == 1 else logging.DEBUG
            log.log(
                level, "wdk: cannot load the workflow of run %s (retrying in %gs): %s", run_id, delay, exc,
                extra=ids("load_error", run_id),
            )
            return time.time() + delay
        if self._load_failed.pop(run_id, None) is not None and inst is not None:
            log.info("wdk: the workflow of run %s loads now; resuming it", run_id)
        if inst is None or inst.terminal:
            if inst is not None:
                inst.close()
            return None
        held: Held | None = None
        # A run holds its workflow's slots only while it is advanced here; its
        # rate limits count starts, so they are waited for once, before run_started.
        limits = [x for x in inst.limits if x.kind == "concurrency" or not inst.started]
        if limits:
            try:
                held = await self.limits.acquire_run(limits, inst.priority)
            except BaseException:
                inst.close()
                raise
        running: dict[str, StepTask] = {}
        prefetched: list[StepCall] = []
        self._running[run_id] = running
        # Outcomes of attempts that ran here and are not recorded yet. They
        # survive a conflict: the log is re-read and they are recorded on top.
        finished: list[tuple[StepCall, Outcome]] = []
        keep = False
        this_task = asyncio.current_task()  # what `cancel_local` cancels while a step runs inline
        try:
            while True:
                now = time.time()
                batch, to_start = self._collect(inst, finished, running, now)
                if batch:
                    # Take back a dead execution's stream chunks before
                    # the commit that restarts or fails its step (and may end the run).
                    if self._dead_attempts:
                        for key in self._dead_attempts.pop(run_id, ()):
                            await roll_back_attempt(self.world, run_id, key)
                    # Slots and tokens are asked for now, so that their lease
                    # shares the commit of the step_started events (group commit).
                    # (Nothing to ask for a lone step without limits, the common case.)
                    lone = len(to_start) == 1 and not to_start[0].limits
                    prefetched = [] if not to_start or lone else self.limits.prefetch(inst.priority, to_start)
                    try:
                        try:
                            # The store is there (almost always): one coroutine
                            # less per commit than going through `_append`.
                            await self.world.append(run_id, inst.last_seq - len(batch), batch)
                        except WorldError as exc:
                            if isinstance(exc, (ConflictError, HookConflict)):
                                raise
                            await self._append(run_id, inst.last_seq - len(batch), batch, exc)
                    except (ConflictError, HookConflict) as exc:
                        self.limits.drop(prefetched)
                        # Someone else wrote (a hook payload, a webhook request, a
                        # cancel): our speculative state is void. Rebuild it from
                        # the log and go on; the steps running here keep running
                        # and their outcomes are recorded on top of what arrived.
                        if isinstance(exc, HookConflict):
                            await self._find_hook_conflicts(batch)
                        if still_held is not None and not await still_held():
                            log.warning("wdk: run %s was taken over by another worker; stopping here", run_id)
                            return None
                        inst.close()
                        try:
                            reloaded = await self._load(run_id)
                        except NonDeterminismError as exc:  # the code changed under us (`wdk dev`)
                            await self._diverged(run_id, exc)
                            return None
                        if reloaded is None:
                            return None  # it ended (a cancel): `finally` cancels our steps
                        inst = reloaded
                        continue
                finished = []
                if inst.terminal:
                    end = _report_end(inst, batch)
                    if self._on_terminal is not None:
                        self._on_terminal(run_id, end)
                    return None
                if len(to_start) == 1 and not running and self._nothing_due(inst):
                    # The common case -- one step, nothing to race it -- runs
                    # inline: no task, no wait set, fewer loop iterations.
                    # `cancel_local` cancels this task instead of a step task.
                    running[_INLINE] = this_task  # type: ignore[assignment]
                    finished = [await self._run_step(inst, to_start[0])]
                    del running[_INLINE]
                    continue
                for call in to_start:
                    running[call.correlation_id] = asyncio.ensure_future(self._run_step(inst, call))
                if not running:
                    keep = True
                    return self._next_wake(inst)
                wake = self._next_wake(inst)
                timeout = None if wake is None else max(0.0, wake - time.time())
                done, _ = await asyncio.wait(
                    running.values(), timeout=timeout, return_when=asyncio.FIRST_COMPLETED
                )
                for task in done:
                    if task.cancelled():
                        return None  # the run was cancelled under us
                    call, outcome = task.result()
                    del running[call.correlation_id]
                    finished.append((call, outcome))
        finally:
            self.limits.drop(prefetched)
            if held is not None:
                self.limits.release(held)
            self._running.pop(run_id, None)
            running.pop(_INLINE, None)
            for task in running.values():
                task.cancel()
            if keep:
                self._keep(inst)
            else:
                inst.close()

    async def _append(self, run_id: str, expected: int, batch: list[NewEvent], failed: WorldError) -> None:
        """Append again after the first try `failed`, waiting out a store that
        is away (a restart, a dropped connection): giving up would throw away
        outcomes of steps that ran. A write that landed although its answer
        was lost shows up as a conflict on the next try, and the log is re-read."""
        backoff = 0.05
        log.warning("wdk: cannot record run %s yet, retrying: %s", run_id, failed)
        warned = True
        await asyncio.sleep(backoff)
        backoff = min(backoff * 2, APPEND_BACKOFF_MAX)
        while True:
            try:
                await self.world.append(run_id, expected, batch)
                return
            except (ConflictError, HookConflict):
                raise
            except WorldError as exc:
                if not warned:
                    log.warning("wdk: cannot record run %s yet, retrying: %s", run_id, exc)
                    warned = True
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, APPEND_BACKOFF_MAX)

    def _collect(
        self,
        inst: WorkflowInstance,
        finished: list[tuple[StepCall, Outcome]],
        running: dict[str, StepTask],
        now: float,
    ) -> tuple[list[NewEvent], list[StepCall]]:
        """Everything to append now, applied to the instance first (to a fixpoint)."""
        batch: list[NewEvent] = []
        to_start: list[StepCall] = []
        todo: list[NewEvent] = []
        if not inst.started:
            todo.append(NewEvent("run_started", now))
            observe.queue_latency("run", inst.started_at, now)
        if inst.blocked:
            # Its history replays against this code again (reverted, or patched).
            self.blocked.resumed(inst.run_id)
            todo.append(NewEvent("run_unblocked", now, None, {"code_version": self.blocked.version(inst.workflow_id)}))
        for call, outcome in finished:
            current = inst.calls.get(call.correlation_id)
            # Still the log's running execution of the step?
            if (
                type(current) is not StepCall or current.state != STARTED
                or current.attempt != call.attempt or current.recovery != call.recovery
            ):
                # Fenced: the log moved on (another worker restarted this step,
                # or it ended): this execution's outcome must not be recorded.
                log.warning("wdk: dropped the outcome of %s in run %s: the step moved on", call.name, inst.run_id)
                continue
            todo.append(outcome.event(current.correlation_id, current.attempt, now))
        # Read in place (nothing below changes them): no copy per pass. While
        # the three lists are empty the workflow asked for nothing (after most events).
        steps, waits = inst.active_steps, inst.active_waits
        unrecorded, patches, disposals = inst.unrecorded, inst.new_patches, inst.disposals
        while True:
            for new in todo:
                inst.apply_next(new)
                batch.append(new)
                if inst.terminal:
                    return batch, to_start
            todo = self._asked(inst, now) if unrecorded or patches or disposals else []
            if todo:
                continue
            for call in steps.values():
                if call.correlation_id in running or call in to_start:
                    continue
                if call.state == CREATED and call.attempt == 0 and inst.reuse:
                    reused, result = inst.reused_result(call)
                    if reused:  # a rerun: the result the earlier run recorded for this step
                        todo.append(NewEvent("step_completed", now, call.correlation_id, {"result": result, "reused_from": inst.rerun_of}))
                        continue
                if call.state == CREATED or (call.state == RETRYING and call.retry_at <= now):
                    if call.state == RETRYING:
                        observe.queue_latency("retry", call.retry_at, now)
                    payload = self.limits.with_limits(call, {"attempt": call.attempt + 1})
                    todo.append(NewEvent("step_started", now, call.correlation_id, payload))
                    to_start.append(call)
                elif call.state == STARTED:
                    # The dead execution's stream chunks are taken back before
                    # the commit that restarts (or fails) its step.
                    dead = attempt_key(call.correlation_id, call.attempt, call.recovery)
                    self._dead_attempts.setdefault(inst.run_id, []).append(dead)
                    todo.append(self._restart_crashed(call, now, to_start))
            if waits:
                for wait in waits.values():
                    if wait.resume_at <= now:
                        todo.append(NewEvent("wait_completed", now, wait.correlation_id))
            if not todo and inst.task is not None and inst.task.done():  # inst.done without its property's frame
                # Hooks end with their run: their tokens are free again.
                todo.extend(NewEvent("hook_disposed", now, c.correlation_id) for c in inst.pending("hook"))
                todo.append(inst.end_event(now))
            if not todo:
                return batch, to_start

    def _asked(self, inst: WorkflowInstance, now: float) -> list[NewEvent]:
        """The events of what the workflow asked for since the last event applied."""
        # Disposals first: a hook created again under a disposed token follows them.
        todo = [NewEvent("hook_disposed", now, c.correlation_id) for c in inst.take_disposals()] if inst.disposals else []
        # Patch markers before the calls of the branch they chose.
        if inst.new_patches:
            for name in inst.take_patches():
                todo.append(NewEvent("patch_recorded", now, None, {"name": name}))
        # take_commands() without its copy (nothing here changes the list),
        # and a step's event made here (one per step: no _created frame).
        for call in inst.unrecorded:
            if isinstance(call, StepCall):
                todo.append(NewEvent("step_created", now, call.correlation_id, {"step_id": call.name, "input": call.input}))
            else:
                todo.append(self._created(call, now))
        return todo

    def _created(self, call: WaitCall | HookCall, now: float) -> NewEvent:
        """A wait's or a hook's creation (a step's is made in `_asked`)."""
        if isinstance(call, HookCall):
            payload: dict[str, Any] = {"token": call.name, "metadata": call.metadata}
            if call.correlation_id in self._hook_conflicts:
                payload["conflict"] = True
            return NewEvent("hook_created", now, call.correlation_id, payload)
        return NewEvent("wait_created", now, call.correlation_id, {"resume_at": call.resume_at})

    async def _find_hook_conflicts(self, batch: list[NewEvent]) -> None:
        """After a HookConflict: which of the batch's new hooks hold a token
        that is taken (by a live hook, or earlier in the same batch)."""
        seen: set[str] = set()
        for ev in batch:
            if ev.type != "hook_created" or ev.payload.get("conflict"):
                continue
            token = str(ev.payload["token"])
            if token in seen or await self.world.get_hook(token) is not None:
                self._hook_conflicts.add(ev.correlation_id or "")
            seen.add(token)

    def _restart_crashed(self, call: StepCall, now: float, to_start: list[StepCall]) -> NewEvent:
        """A step recorded as started that no one here is running: the worker
        that ran it died mid-attempt. That is not the step's failure: the same
        attempt runs again (a recovery), and its retries are left untouched."""
        if call.recovery >= self.settings.max_recoveries:
            error = {
                "type": "wdk.errors.StepError",
                "message": (
                    f"the worker running attempt {call.attempt} of {call.name} stopped "
                    f"{call.recovery + 1} times (WDK_MAX_RECOVERIES={self.settings.max_recoveries}); giving up"
                ),
                "traceback": "",
            }
            return NewEvent("step_failed", now, call.correlation_id, {"error": error, "attempt": call.attempt})
        to_start.append(call)
        payload = self.limits.with_limits(call, {"attempt": call.attempt, "recovery": call.recovery + 1})
        return NewEvent("step_started", now, call.correlation_id, payload)

    def _run_step(self, inst: WorkflowInstance, call: StepCall) -> Coroutine[Any, Any, tuple[StepCall, Outcome]]:
        """The step's execution: a plain def, so that a step without limits
        (most) is one coroutine less."""
        if call.limits and call.limit_error is None:
            return self._execute_limited(inst, call)
        return self._execute(inst, call)

    async def _execute_limited(self, inst: WorkflowInstance, call: StepCall) -> tuple[StepCall, Outcome]:
        # Waits here (in priority order) for a slot / token of each limit,
        # asked for when the step's step_started was appended (step_limits.py).
        held = await self.limits.acquire(call, inst.priority)
        try:
            return await self._execute(inst, call)
        finally:
            self.limits.release(held)

    async def _execute(self, inst: WorkflowInstance, call: StepCall) -> tuple[StepCall, Outcome]:
        if call.limit_error is not None:  # a key function of its limits failed: so does the attempt
            return call, Outcome("failed", error=serde.encode_error(call.limit_error))
        # The step's stream writers write to this runtime's world.
        step = RunningStep(
            (call.name, call.correlation_id, call.attempt, time.time(), inst.run_id, call.recovery,
             inst.workflow_id, inst.started_at),
            self.world,
        )
        try:
            args, kwargs, closure = serde.decode_call(call.input)
            fn = self.loader.step_function(call.name, closure)
        except Exception as exc:
            # Broken or missing step code fails like the step itself would.
            error = serde.encode_error(exc)
            return call, Outcome("failed", error=error)
        # Its span, if traced, is current while it runs.
        if tracing.active():
            with observe.step_attempt(
                inst.run_id, inst.workflow_id, inst.created_payload, call.name, call.correlation_id, call.attempt
            ) as observed:
                outcome = await run_attempt(fn, args, kwargs, step)
                observed.done(outcome.kind, outcome.error, outcome.retry_at)
        else:  # the common case: no span, no context manager
            began = time.monotonic()
            outcome = await run_attempt(fn, args, kwargs, step)
            observe.attempt_ended(inst.run_id, call.name, call.attempt, began, outcome.kind, outcome.error, outcome.retry_at)
        if outcome.kind != "completed":
            # Take back what the failed attempt wrote to its streams, before
            # the commit that records it (which may end the run and its streams).
            await roll_back_attempt(self.world, inst.run_id, attempt_key(call.correlation_id, call.attempt, call.recovery))
        return call, outcome

    @staticmethod
    def _nothing_due(inst: WorkflowInstance) -> bool:
        """`_next_wake(inst) is None`, answered at once when the run's one
        active call is the step about to start (started: not retrying)."""
        if len(inst.active_steps) == 1 and not inst.active_waits:
            return True
        return Orchestrator._next_wake(inst) is None

    @staticmethod
    def _next_wake(inst: WorkflowInstance) -> float | None:
        times = [c.retry_at for c in inst.active_steps.values() if c.state == RETRYING]
        waits = inst.active_waits
        if waits:  # usually none: no second list
            times += [c.resume_at for c in waits.values() if c.handle is None or not c.handle.cancelled()]
        return min(times) if times else None

    async def _diverged(self, run_id: str, exc: NonDeterminismError) -> None:
        """The run's history does not replay against this code: blocked until
        code that replays it runs (or failed, with on_divergence="fail")."""
        if self.settings.on_divergence == "fail":
            await self._fail_unloadable(run_id, exc)
        else:
            await self.blocked.block(run_id, exc)

    async def _fail_unloadable(self, run_id: str, exc: BaseException) -> None:
        """Record a run whose history the current code cannot replay as failed."""
        run = await self.world.get_run(run_id)
        if run is None or run.status in ("completed", "failed", "cancelled"):
            return
        event = NewEvent("run_failed", time.time(), None, {"error": serde.encode_error(exc)})
        try:
            await self.world.append(run_id, run.last_seq, [event])
        except ConflictError:
            return
        created = await self.world.read_events(run_id, -1, 1) if tracing.active() else []
        observe.run_ended(
            run_id, run.workflow_id, created[0].payload if created else {}, run.created_at,
            "run_failed", event.at, event.payload["error"],
        )
        if self._on_terminal is not None:
            self._on_terminal(run_id, event)


def _ended(events: list[Event]) -> bool:
    """Whether the log (or its tail) ends the run: a terminal event that no
    `run_resumed` (`wdk retry`) follows."""
    for event in reversed(events):
        if event.type == "run_resumed":
            return False
        if event.type in TERMINAL_TYPES:
            return True
    return False


def _report_end(inst: WorkflowInstance, batch: list[NewEvent]) -> NewEvent | None:
    """The commit just made ended the run: metrics, its span, a log line if it
    failed. The terminal event it committed; None when another writer ended it."""
    end = next((e for e in reversed(batch) if e.type in TERMINAL_TYPES), None)
    if end is None:
        return None  # ended by an event another process wrote (a cancel): that process reports it
    observe.run_ended(
        inst.run_id, inst.workflow_id, inst.created_payload, inst.started_at, end.type, end.at,
        end.payload.get("error"),
    )
    return end
