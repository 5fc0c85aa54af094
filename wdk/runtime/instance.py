"""One live workflow run: the deterministic loop, its main task, and the
bookkeeping that turns the workflow's calls into commands and applies the
run's events back to it.

Replay and live execution are the same code path: events (read from the log,
or just produced by this worker and about to be appended) are applied in log
order with `apply()`; after each, the workflow runs until it blocks. Every
call the workflow makes gets the next correlation id; a call that the log
already recorded must match it (else NonDeterminismError), a call the log
does not have yet is a new command (`take_commands()`).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import sys
from collections.abc import Callable, Coroutine, Sequence
from typing import Any, ClassVar, Literal, TypeVar, overload

import msgspec

from wdk.errors import NonDeterminismError
from wdk.runtime import callsite, serde
from wdk.runtime.arguments import check_arguments
from wdk.runtime.flow_control import Limit, from_payload
from wdk.runtime.hooks import Hook
from wdk.runtime.loop import WorkflowLoop
from wdk.runtime.sandbox import Sandbox
from wdk.worlds.base import Event, NewEvent

# A call's state, as the log records it: new (not in the log yet), created
# (its *_created event is), then for steps started / retrying, and done.
CallState = Literal["new", "created", "started", "retrying", "done"]
NEW: CallState = "new"
CREATED: CallState = "created"
STARTED: CallState = "started"
RETRYING: CallState = "retrying"
DONE: CallState = "done"

CallKind = Literal["step", "wait", "hook"]

# What `apply_next` applies: an event read from the log, or one about to be appended.
AnyEvent = Event | NewEvent


class Call(msgspec.Struct, eq=False):
    """What every call the workflow makes has (a step call, a durable wait,
    a hook): the kinds are the subclasses below. (Structs, not dataclasses:
    made in C, with no __init__ frame: a step call makes one. Compared by identity.)"""

    kind: ClassVar[CallKind]
    correlation_id: str
    name: str  # step id, "sleep", or hook token
    location: str  # "file:line" of the workflow code that made the call
    state: CallState = NEW


class StepCall(Call, eq=False):
    """A step the workflow awaits: its future gets the recorded result."""

    kind: ClassVar[CallKind] = "step"
    future: asyncio.Future[Any] | None = None
    input: dict[str, Any] = msgspec.field(default_factory=dict)  # the encoded arguments
    index: int = 0  # 1 for the workflow's first step call, 2 for the next...
    attempt: int = 0  # attempts started so far
    recovery: int = 0  # restarts of the current attempt after its worker died
    retry_at: float = 0.0
    # Flow control for the execution about to start (recorded in its step_started).
    limits: tuple[Limit, ...] = ()
    limit_error: Exception | None = None  # its key function failed: the attempt fails
    acquiring: Any = None  # its slots / tokens: held, or being acquired (a future; orchestrator)


class WaitCall(Call, eq=False):
    """A durable wait (`sleep`, `asyncio.sleep`): its timer fires when it completes."""

    kind: ClassVar[CallKind] = "wait"
    handle: asyncio.TimerHandle | None = None
    resume_at: float = 0.0


class HookCall(Call, eq=False):
    """A hook (or webhook): payloads recorded for it go to `hook`."""

    kind: ClassVar[CallKind] = "hook"
    metadata: dict[str, Any] = msgspec.field(default_factory=dict)
    hook: Hook[Any] | None = None


AnyCall = StepCall | WaitCall | HookCall
C = TypeVar("C", StepCall, WaitCall, HookCall)


def correlation_id(run_id: str, kind: str, n: int) -> str:
    """Deterministic, unique per run and position: `step_3_9f2c1a7b0d4e6f81`."""
    digest = hashlib.blake2b(f"{run_id}:{n}".encode(), digest_size=8).hexdigest()
    return f"{kind}_{n}_{digest}"


class _CorrelationIds:
    """`correlation_id` for one run, from a hash of the run's prefix hashed once:
    a copy and an update cost less than a new hash per call (one per step)."""

    __slots__ = ("prefix",)

    def __init__(self, run_id: str) -> None:
        self.prefix = hashlib.blake2b(f"{run_id}:".encode(), digest_size=8)

    def __call__(self, kind: str, n: int) -> str:
        h = self.prefix.copy()
        number = str(n)
        h.update(number.encode())
        return f"{kind}_{number}_{h.hexdigest()}"


class WorkflowInstance:
    """Owns one run's WorkflowLoop. Not thread-safe; driven by the orchestrator."""

    def __init__(
        self,
        run_id: str,
        workflow_id: str,
        fn: Callable[..., Coroutine[Any, Any, Any]],
        created: Event,
        sandbox: Sandbox | None = None,
        store_secret: bytes = b"",
        *,
        arguments_checked: bool = False,
    ) -> None:
        self.run_id = run_id
        self.workflow_id = workflow_id
        self.started_at = created.at
        self.created_payload = created.payload  # its "trace" names the run's span (tracing.py)
        # Flow control the run was started with (`start(..., priority=)`, the
        # workflow's own limits, resolved against its arguments).
        self.priority = int(created.payload.get("priority") or 0)
        self.limits = from_payload(created.payload.get("limits"))
        self.last_seq = -1
        self.calls: dict[str, AnyCall] = {}
        # Recorded calls not finished yet, per kind, in correlation order: kept
        # apart so that each step costs O(1) however long the history is, and
        # the orchestrator's scans of one kind never visit the others.
        self._active: dict[CallKind, dict[str, Any]] = {"step": {}, "wait": {}, "hook": {}}
        # The same dicts, read in place by the orchestrator's per-step scans
        # (`pending()` copies): never to be changed by the reader.
        self.active_steps: dict[str, StepCall] = self._active["step"]
        self.active_waits: dict[str, WaitCall] = self._active["wait"]
        self._correlation_id = _CorrelationIds(run_id)
        self.unrecorded: list[AnyCall] = []  # calls the log does not have yet
        self.disposals: list[HookCall] = []  # hooks the workflow disposed (take_disposals)
        self._counter = 0
        self.terminal: str | None = None  # run_completed / run_failed / run_cancelled once applied
        self.started = False
        run_seed = str(created.payload.get("seed") or run_id)
        if created.payload.get("rng") == 2:
            # Keyed with the store's secret: the seed in the log (which the
            # API never serves anyway) does not give the random stream away.
            # (hmac.digest: HMAC-SHA256 in one C call, as hmac.new(...).hexdigest() gives it)
            self.secret = hmac.digest(store_secret, run_seed.encode(), "sha256").hex().encode()
        else:  # runs started before: replay them as they ran
            self.secret = run_seed.encode()
        seed = int.from_bytes(hashlib.blake2b(self.secret, digest_size=8).digest(), "big")
        self.loop = WorkflowLoop(
            run_id=run_id, seed=seed, start_time=created.at, timer_hook=self._on_timer
        )
        self.loop.instance = self
        self._fn = fn
        self.task: asyncio.Task[Any] | None = None
        self._steps = 0  # step calls so far (StepCall.index)
        # Deploys. `history_end`: the last seq of the log as read (before it,
        # the workflow replays; see patched()).
        self.history_end = 0
        self.patches: set[str] = set()  # patch names the log records
        self._patch_decisions: dict[str, bool] = {}
        self.new_patches: list[str] = []  # patched() said True live: markers to record
        self.divergence: NonDeterminismError | None = None  # found by workflow code (deprecate_patch)
        self.blocked = False  # a run_blocked with no run_unblocked after it
        self._retries: dict[str, str] = {}  # a failed step's cid -> its retry's (`wdk retry`)
        self._retrying: dict[str, StepCall] = {}  # retry cid -> the call, until its step_created
        # A rerun: step index -> (step id, recorded result) of the run it reruns.
        rerun = created.payload.get("rerun") or {}
        self.rerun_of: str | None = rerun.get("of")
        self.reuse: dict[int, tuple[str, Any]] = {int(i): (str(sid), r) for i, sid, r in rerun.get("reuse", ())}
        self._sandbox = sandbox  # refuses timers set by libraries it refuses
        # `start()` checked the arguments against this very function (this
        # process created the run): run_created does not check them again.
        self._arguments_checked = arguments_checked

    # --- calls made by workflow code (through the running WorkflowLoop) ---------

    def _next_id(self, kind: CallKind) -> str:
        self._counter += 1
        return self._correlation_id(kind, self._counter)

    def _new_call(self, call: C) -> C:
        self.calls[call.correlation_id] = call
        self.unrecorded.append(call)
        return call

    def call_step(
        self,
        step_id: str,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        closure: dict[str, Any] | None,
    ) -> asyncio.Future[Any]:
        # Serialize now: an unserializable argument fails at the call site,
        # before anything is written.
        encoded = serde.encode_call(args, kwargs, closure)
        fut: asyncio.Future[Any] = asyncio.Future(loop=self.loop)  # loop.create_future, inlined
        self._steps += 1
        self._counter += 1  # _next_id and _new_call, inlined (once per step)
        # self._correlation_id("step", n), inlined: calling an instance costs a frame from C.
        number = str(self._counter)
        h = self._correlation_id.prefix.copy()
        h.update(number.encode())
        cid = f"step_{number}_{h.hexdigest()}"
        # The workflow's line: searched for from the step proxy's caller.
        try:
            location = callsite.location(sys._getframe(_STEP_CALL_DEPTH))
        except ValueError:  # fewer frames: no such caller
            location = "<unknown>"
        call = StepCall(cid, step_id, location, future=fut, input=encoded, index=self._steps)
        self.calls[cid] = call
        self.unrecorded.append(call)
        return fut

    def reused_result(self, call: StepCall) -> tuple[bool, Any]:
        """(True, result) when this run reruns another and reuses that run's
        result for this step (same position, same step)."""
        hit = self.reuse.get(call.index)
        if hit is None or hit[0] != call.name:
            return False, None
        return True, hit[1]

    # --- deploys: patched(), deprecate_patch() -----------------------------------

    def know_history(self, events: Sequence[Event]) -> None:
        """Before applying events read from the log: how far the history goes,
        and what it records that the code asks about before reaching it
        (patch markers, steps continued by `wdk retry`)."""
        if events:
            self.history_end = max(self.history_end, events[-1].seq)
        for e in events:
            if e.type == "patch_recorded":
                self.patches.add(str(e.payload.get("name")))
            elif e.type == "run_resumed" and e.correlation_id:
                self._retries[e.correlation_id] = str(e.payload.get("retry_as"))

    @property
    def replaying(self) -> bool:
        """Whether the workflow is re-running history the log already has."""
        return self.last_seq < self.history_end

    def patched(self, name: str) -> bool:
        """True for runs that reach the patch with the new code (recorded in
        the log), False for runs whose history predates it. Asked twice in a
        run, the answer is the first one."""
        decided = self._patch_decisions.get(name)
        if decided is not None:
            return decided
        if name in self.patches:
            decided = True
        elif self.replaying:
            decided = False  # the history was written by code without the patch
        else:
            decided = True
            self.patches.add(name)
            self.new_patches.append(name)
        self._patch_decisions[name] = decided
        return decided

    def deprecate_patch(self, name: str) -> None:
        """Refuse (as a divergence) a run whose history predates the patch."""
        if name in self.patches or not self.replaying:
            return
        self.divergence = NonDeterminismError(
            f"run {self.run_id}: deprecate_patch({name!r}) came too early: this run started before "
            f"patched({name!r}) was deployed and its history took the old branch. Keep "
            f"`if patched({name!r})` until every such run has finished "
            "(`wdk replay --all --status running,blocked` finds them), then deprecate it",
            expected=f"patched({name!r}) (the run's history predates the patch)",
            actual=f"deprecate_patch({name!r})",
            location=_caller_location(),
        )
        raise self.divergence

    def take_patches(self) -> list[str]:
        """Patches decided True live since the last call: their markers to record."""
        names = list(self.new_patches)
        self.new_patches.clear()  # in place: the orchestrator holds the list (`_collect`)
        return names

    def create_hook(self, token: str | None, metadata: dict[str, Any]) -> Hook[Any]:
        n = self._counter + 1
        if token is None:
            # 128 bits from the run's secret seed: the same on every replay,
            # not guessable by anyone who lacks the seed.
            token = "wdkh_" + hashlib.blake2b(f"hook:{n}".encode(), key=self.secret[:64], digest_size=16).hexdigest()
        elif not isinstance(token, str) or not token:
            raise ValueError(f"a hook token must be a non-empty str, not {token!r}")
        call = self._new_call(HookCall(self._next_id("hook"), token, _caller_location(), metadata=dict(metadata)))
        hook: Hook[Any] = Hook(token, call.correlation_id, lambda: self.disposals.append(call))
        call.hook = hook
        return hook

    def take_disposals(self) -> list[HookCall]:
        """Hooks the workflow disposed (`hook.dispose()`) whose hook_created is
        in the log and whose hook_disposed is not yet."""
        return [c for c in self.disposals if c.state == CREATED]

    def _on_timer(self, handle: asyncio.TimerHandle) -> None:
        if self._sandbox is not None:
            self._sandbox.check_timer(sys._getframe(1))  # before it is a wait
        self._new_call(WaitCall(self._next_id("wait"), "sleep", _caller_location(), handle=handle, resume_at=handle.when()))

    # --- driving ---------------------------------------------------------------

    def apply(self, event: Event) -> None:
        """Apply one event in log order, then let the workflow run until it blocks."""
        if event.seq != self.last_seq + 1:
            raise RuntimeError(f"event {event.seq} applied after {self.last_seq} for run {self.run_id}")
        self.apply_next(event)

    def apply_next(self, event: AnyEvent) -> None:
        """`apply` of the event that follows the last one applied: an event about
        to be appended is applied as given (no `Event` is made for it)."""
        self.last_seq += 1
        loop = self.loop
        # loop.set_time and loop.has_ready, inlined: three events per step come here.
        if event.at > loop._time:  # never back: see set_time
            loop._time = float(event.at)
        handler = _APPLY.get(event.type)
        if handler is not None:
            handler(self, event)
        if loop._ready:  # only completions wake the workflow
            loop.run_until_quiescent()
        if self.divergence is not None:
            raise self.divergence  # even if the workflow code caught it

    def _call_for(self, event: AnyEvent, kind: type[C]) -> C:
        call = self.calls.get(event.correlation_id or "")
        if not isinstance(call, kind):
            raise NonDeterminismError(
                f"run {self.run_id}: the log has {event.type} for {event.correlation_id}, "
                + ("which the workflow code never called" if call is None else f"which is a {call.kind} here"),
                expected=f"{event.type} {event.correlation_id}",
                actual="(no such call)" if call is None else f"{call.kind} {call.name}",
            )
        return call

    def _apply_run_created(self, event: AnyEvent) -> None:
        args, kwargs, _ = serde.decode_call(event.payload.get("input") or {"args": [], "kwargs": {}})
        try:
            if not self._arguments_checked:
                check_arguments(self._fn, args, kwargs)
            coro = self._fn(*args, **kwargs)
        except TypeError as exc:
            # The arguments cannot begin this workflow (written by an older
            # client, or its signature changed since): the run fails with the
            # error, as if the workflow raised it, rather than retry forever.
            coro = _raise(exc)
        self.task = self.loop.create_task(coro)

    def _apply_run_started(self, event: AnyEvent) -> None:
        self.started = True

    def _apply_created(self, event: AnyEvent, kind: type[C], name: str) -> C:
        if not self.unrecorded:
            raise NonDeterminismError(
                f"run {self.run_id}: the log has a {kind} ({name}) that the workflow code does not make",
                expected=f"{kind} {name} ({event.correlation_id})",
                actual="(no call: the workflow is waiting or finished)",
            )
        call = self.unrecorded[0]
        if call.correlation_id != event.correlation_id or not isinstance(call, kind) or call.name != name:
            raise NonDeterminismError(
                f"run {self.run_id}: the workflow code made a different call than its history",
                expected=f"{kind.kind} {name} ({event.correlation_id})",
                actual=f"{call.kind} {call.name} ({call.correlation_id})",
                location=call.location,
            )
        self.unrecorded.pop(0)
        call.state = CREATED
        self._active[call.kind][call.correlation_id] = call
        return call

    def _apply_step_created(self, event: AnyEvent) -> None:
        if self._retrying:
            retry = self._retrying.pop(event.correlation_id or "", None)
            if retry is not None:  # a failed step continued by `wdk retry`
                retry.state = CREATED
                self._active["step"][retry.correlation_id] = retry
                return
        # _apply_created's common case, inlined (once per step): the next call
        # the workflow made is this step.
        unrecorded = self.unrecorded
        if unrecorded:
            call = unrecorded[0]
            if type(call) is StepCall and call.correlation_id == event.correlation_id and call.name == event.payload.get("step_id"):
                del unrecorded[0]
                call.state = CREATED
                self.active_steps[call.correlation_id] = call
                return
        self._apply_created(event, StepCall, str(event.payload.get("step_id")))

    def _apply_wait_created(self, event: AnyEvent) -> None:
        self._apply_created(event, WaitCall, "sleep").resume_at = float(event.payload["resume_at"])

    def _apply_step_started(self, event: AnyEvent) -> None:
        call = self.calls.get(event.correlation_id or "")
        if type(call) is not StepCall:  # `_call_for`'s test first: one call less per step
            call = self._call_for(event, StepCall)
        call.state = STARTED
        call.attempt = int(event.payload.get("attempt", call.attempt + 1))
        call.recovery = int(event.payload.get("recovery", 0))

    def _apply_step_retrying(self, event: AnyEvent) -> None:
        call = self._call_for(event, StepCall)
        call.state = RETRYING
        call.retry_at = float(event.payload.get("retry_at", event.at))

    def _finish(self, event: AnyEvent, kind: type[C]) -> C:
        call = self.calls.get(event.correlation_id or "")
        if type(call) is not kind:  # `_call_for`'s test first: one call less per step
            call = self._call_for(event, kind)
        call.state = DONE
        self._active[call.kind].pop(call.correlation_id, None)
        return call

    def _apply_step_completed(self, event: AnyEvent) -> None:
        # _finish, inlined (once per step)
        call = self.calls.get(event.correlation_id or "")
        if type(call) is not StepCall:
            call = self._call_for(event, StepCall)
        call.state = DONE
        self.active_steps.pop(call.correlation_id, None)
        fut = call.future
        if fut is not None and not fut.done():
            fut.set_result(serde.from_builtins(event.payload.get("result")))

    def _apply_step_failed(self, event: AnyEvent) -> None:
        retry_as = self._retries.get(event.correlation_id or "")
        if retry_as is not None:
            # `wdk retry` continued the run: the workflow never sees this
            # failure; the step runs again under its retry's correlation id.
            call = self._call_for(event, StepCall)
            self._active["step"].pop(call.correlation_id, None)
            del self.calls[call.correlation_id]
            call.correlation_id, call.state, call.attempt, call.recovery = retry_as, NEW, 0, 0
            self.calls[retry_as] = self._retrying[retry_as] = call
            return
        call = self._finish(event, StepCall)
        if call.future is not None and not call.future.done():
            call.future.set_exception(serde.decode_error(event.payload.get("error") or {}))

    def _apply_wait_completed(self, event: AnyEvent) -> None:
        call = self._finish(event, WaitCall)
        if call.handle is not None:
            self.loop.fire_timer(call.handle)

    def _apply_hook_created(self, event: AnyEvent) -> None:
        call = self._apply_created(event, HookCall, str(event.payload.get("token")))
        if event.payload.get("conflict") and call.hook is not None:
            call.hook._set_conflict()
            self._active["hook"].pop(call.correlation_id, None)

    def _apply_hook_received(self, event: AnyEvent) -> None:
        call = self._call_for(event, HookCall)
        if call.hook is not None:
            call.hook._deliver(serde.from_builtins(event.payload.get("payload")))

    def _apply_hook_disposed(self, event: AnyEvent) -> None:
        call = self._finish(event, HookCall)
        if call in self.disposals:
            self.disposals.remove(call)
        if call.hook is not None:
            call.hook._set_disposed()

    def _apply_run_completed(self, event: AnyEvent) -> None:
        self.terminal = event.type

    _apply_run_failed = _apply_run_completed
    _apply_run_cancelled = _apply_run_completed

    def _apply_run_resumed(self, event: AnyEvent) -> None:
        self.terminal = None  # `wdk retry`: the failed run goes on

    def _apply_run_blocked(self, event: AnyEvent) -> None:
        self.blocked = True

    def _apply_run_unblocked(self, event: AnyEvent) -> None:
        self.blocked = False

    def _apply_patch_recorded(self, event: AnyEvent) -> None:
        self.patches.add(str(event.payload.get("name")))

    # --- what the orchestrator reads -------------------------------------------------

    def take_commands(self) -> list[AnyCall]:
        """Calls made since the last `apply` that the log does not have yet, in order."""
        return list(self.unrecorded)

    @property
    def done(self) -> bool:
        return self.task is not None and self.task.done()

    def outcome(self) -> tuple[bool, Any]:
        """(True, result) or (False, exception) of a finished workflow."""
        assert self.task is not None and self.task.done()
        if self.task.cancelled():
            return False, asyncio.CancelledError("the workflow was cancelled")
        exc = self.task.exception()
        if exc is not None:
            return False, exc
        return True, self.task.result()

    def end_event(self, now: float) -> NewEvent:
        """The event that records the finished workflow's end: its result, or
        the error (also when the result cannot be stored)."""
        ok, value = self.outcome()
        if ok:
            try:
                return NewEvent("run_completed", now, None, {"result": serde.to_builtins(value, "result")})
            except Exception as exc:
                value = exc
        return NewEvent("run_failed", now, None, {"error": serde.encode_error(value)})

    @overload
    def pending(self, kind: Literal["step"]) -> list[StepCall]: ...
    @overload
    def pending(self, kind: Literal["wait"]) -> list[WaitCall]: ...
    @overload
    def pending(self, kind: Literal["hook"]) -> list[HookCall]: ...
    def pending(self, kind: CallKind) -> list[StepCall] | list[WaitCall] | list[HookCall]:
        """Recorded, unfinished calls of one kind, in correlation order."""
        return list(self._active[kind].values())

    def close(self) -> None:
        self.loop.close()


async def _raise(exc: BaseException) -> Any:
    raise exc


_APPLY: dict[str, Callable[[WorkflowInstance, AnyEvent], None]] = {
    name[len("_apply_") :]: fn
    for name, fn in vars(WorkflowInstance).items()
    if name.startswith("_apply_") and name != "_apply_created"
}

# Frames between a workflow's step call and `call_step`: the compiled proxy
# (or a method step's dispatcher, or a StepRef) and compiled.step_call. Fixed,
# so the search for the workflow's line starts at the proxy's caller (usually
# the answer itself).
_STEP_CALL_DEPTH = 3


def _caller_location() -> str:
    """file:line of the innermost user frame (past wdk's, asyncio's and libraries')."""
    return callsite.location(sys._getframe(1))
