"""What a client asks of the runtime: start a run, cancel it, resume a hook.

`Runtime.start_run`, `Runtime.cancel` and `Runtime.resume_hook` are these,
bound to the runtime's world and loader. Clients (`wdk.client`), the HTTP
server and child runs call them; they call nothing above the runtime.

A start writes the run and its queue message in one transaction; a resume or
a cancel writes to the log first and only then enqueues the run: a crash
between the two leaves a run the reconciler finds, never a message without a run.
"""

from __future__ import annotations

import importlib
import os
import time
from collections.abc import Callable
from typing import Any

import msgspec

from wdk.errors import ConflictError, HookNotFound, RunNotFound, WorkflowCancelled, WorkflowFailed
from wdk.runtime import observe, serde, tracing
from wdk.runtime.arguments import check_arguments
from wdk.runtime.flow_control import declared, limits_payload, resolve
from wdk.runtime.loader import Loader
from wdk.worlds.base import (
    END_STATUS,
    TERMINAL_STATUSES,
    Event,
    Lease,
    NewEvent,
    NewRun,
    RunInfo,
    World,
)

__all__ = [
    "FLOW",
    "cancel_run",
    "new_run_id",
    "outcome",
    "prepare_run",
    "recorded_outcome",
    "rerun_plan",
    "resume_hook",
    "retry_run",
    "start_run",
]

FLOW = "flow"  # the queue of runs that need advancing

_json_encode = msgspec.json.Encoder().encode
_json_decode = msgspec.json.Decoder().decode

# How often resume_hook re-reads a run that moved on under it before giving up.
_RESUME_TRIES = 100


def new_run_id() -> str:
    """Time-ordered and unique: `wrun_<ms since epoch, hex><80 random bits>`."""
    return f"wrun_{int(time.time() * 1000):012x}{os.urandom(10).hex()}"


def prepare_run(
    loader: Loader,
    workflow: str | Callable[..., Any],
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    *,
    idempotency_key: str | None = None,
    parent_run_id: str | None = None,
    priority: int = 0,
    rerun: dict[str, Any] | None = None,
) -> tuple[NewRun, Callable[..., Any]]:
    """The run to create, once its code loads and its arguments fit, and the
    workflow function it loaded and checked the arguments against (`rerun`:
    what `rerun_plan` says this run reuses of an earlier one). A runtime that
    advances the run at once begins it with that function (`Runtime.adopt`)
    instead of loading it again. `workflow`: its id, or the workflow function."""
    # The workflow's id, its function and its code version each read its
    # source file: one look at it serves the three (nothing awaits here).
    held = loader.hold_sources()
    try:
        workflow_id = workflow if isinstance(workflow, str) else loader.workflow_id_of(workflow)
        # Compile and load now, and check the arguments against the signature:
        # broken code or a call that cannot begin fails here, not in a worker.
        fn = loader.workflow_function(workflow_id)
        check_arguments(fn, args, kwargs)
        # The code that started it (docs/deploys.md): shown by `wdk inspect`.
        code_version = loader.code_version(workflow_id)
    finally:
        if held:
            loader.release_sources()
    payload: dict[str, Any] = {
        "workflow_id": workflow_id,
        "input": serde.encode_call(args, kwargs),
        # Secret per run: seeds the workflow's deterministic randomness (and
        # hook tokens), so replay repeats it but outsiders cannot guess it.
        "seed": os.urandom(16).hex(),
        "code_version": code_version,
        # 2: the random stream is keyed with the store's secret too (WorkflowInstance).
        "rng": 2,
    }
    trace = tracing.new_run_trace()  # the caller's span becomes the run's parent
    if trace is not None:
        payload["trace"] = trace
    # Flow control, recorded with the run: its priority and its workflow's
    # limits, keys computed from these arguments once.
    if priority:
        payload["priority"] = priority
    limits = resolve(fn, workflow_id, args, kwargs) if declared(fn) else []
    if limits:
        payload["limits"] = limits_payload(limits)
    if rerun is not None:
        payload["rerun_of"] = rerun["of"]
        payload["rerun"] = rerun
    return NewRun(
        new_run_id(),
        workflow_id,
        time.time(),
        payload,
        idempotency_key=idempotency_key,
        parent_run_id=parent_run_id,
        priority=priority,
    ), fn


async def start_run(
    world: World, new: NewRun, *, owner: str | None = None, lease_for: float = 30.0
) -> tuple[RunInfo, Lease | None, Event | None]:
    """Create the run and its queue message in one round trip. With `owner`
    (a runtime that can advance it now) the message is leased to it at once:
    then the lease and the run's first event come back, so it starts without
    a lease call or a read of its log. With an idempotency key already used,
    the run that used it (nothing is written)."""
    info, created, lease = await world.start_run(new, FLOW, owner=owner, lease_for=lease_for)
    if created:
        observe.run_created(new.workflow_id)
    if not created or lease is None:
        return info, None, None
    return info, lease, Event(info.id, 0, "run_created", new.at, None, _as_stored(new.payload))


def _as_stored(payload: dict[str, Any]) -> dict[str, Any]:
    """The payload as a read of the log returns it (a JSON round trip: tuples become lists)."""
    stored: dict[str, Any] = _json_decode(_json_encode(payload))
    return stored


async def rerun_plan(
    world: World, run_id: str, from_step: int | None
) -> tuple[str, tuple[Any, ...], dict[str, Any], dict[str, Any]]:
    """(workflow id, args, kwargs, rerun) of a new run of `run_id`'s workflow
    with its input that reuses the recorded results of its steps before step
    `from_step` (1 is the first step the run called; None: every completed
    step). The new run reuses a result only where it calls the same step at
    the same position."""
    if from_step is not None and from_step < 1:
        raise ValueError(f"from_step counts the run's steps from 1, not {from_step}")
    events = await world.read_events(run_id)
    if not events or events[0].type != "run_created":
        raise RunNotFound(run_id)
    created = events[0].payload
    args, kwargs, _ = serde.decode_call(created.get("input") or {"args": [], "kwargs": {}})
    retried = {e.payload.get("retry_as"): e.correlation_id for e in events if e.type == "run_resumed"}
    index: dict[str, tuple[int, str]] = {}  # cid -> (step number, step id)
    results: dict[int, tuple[str, Any]] = {}
    for e in events:
        cid = retried.get(e.correlation_id, e.correlation_id) or ""
        if e.type == "step_created" and cid not in index:
            index[cid] = (len(index) + 1, str(e.payload.get("step_id")))
        elif e.type == "step_completed" and cid in index:
            n, step_id = index[cid]
            if from_step is None or n < from_step:
                results[n] = (step_id, e.payload.get("result"))
    reuse = [[n, step_id, result] for n, (step_id, result) in sorted(results.items())]
    return str(created.get("workflow_id")), tuple(args), dict(kwargs), {"of": run_id, "from_step": from_step, "reuse": reuse}


async def retry_run(world: World, run_id: str) -> str:
    """Continue a run that failed in a step (`wdk retry`): the step runs again
    with fresh retries, under the same run id. Appends `run_resumed` (naming
    the failed step) and the step's new `step_created`, then queues the run;
    returns the step's id. ValueError when the run did not fail in a step."""
    while True:
        run = await world.get_run(run_id)
        if run is None:
            raise RunNotFound(run_id)
        if run.status != "failed":
            raise ValueError(f"run {run_id} is {run.status}: only a failed run can be retried")
        events = await world.read_events(run_id)
        failed = _failed_step(events)
        if failed is None:
            raise ValueError(
                f"run {run_id} failed in its workflow code, not in a step: "
                "`wdk rerun` starts it again with the same input"
            )
        cid, created = failed
        step_id = str(created.payload.get("step_id"))
        retry_as = f"{cid}.r{sum(e.type == 'run_resumed' for e in events) + 1}"
        now = time.time()
        batch = [
            NewEvent("run_resumed", now, cid, {"retry_as": retry_as, "step_id": step_id}),
            NewEvent("step_created", now, retry_as, {"step_id": step_id, "input": created.payload.get("input"), "retry_of": cid}),
        ]
        try:
            await world.append(run_id, run.last_seq, batch)
        except ConflictError:
            continue  # a late hook disposal: read again
        await world.enqueue(FLOW, run_id)
        return step_id


def _failed_step(events: list[Event]) -> tuple[str, Event] | None:
    """(correlation id, step_created event) of the step whose failure ended the run."""
    created: dict[str, Event] = {}
    failed: str | None = None
    for e in events:
        if e.type == "step_created" and e.correlation_id:
            created[e.correlation_id] = e
        elif e.type == "step_failed":
            failed = e.correlation_id
        elif e.type == "run_resumed":
            failed = None
    if failed is None or failed not in created:
        return None
    return failed, created[failed]


async def cancel_run(world: World, run_id: str) -> bool:
    """Append `run_cancelled` unless the run has ended; True when this call
    ended it. RunNotFound for an unknown id."""
    while True:
        run = await world.get_run(run_id)
        if run is None:
            raise RunNotFound(run_id)
        if run.status in TERMINAL_STATUSES:
            return False
        event = NewEvent("run_cancelled", time.time())
        try:
            await world.append(run_id, run.last_seq, [event])
        except ConflictError:
            continue  # a worker appended meanwhile: read again
        created = await world.read_events(run_id, -1, 1) if tracing.active() else []
        observe.run_ended(
            run_id, run.workflow_id, created[0].payload if created else {}, run.created_at, "run_cancelled", event.at
        )
        return True


async def resume_hook(world: World, token: str, payload: Any) -> str:
    """Record `payload` for the live hook `token` and queue its run; the run's id.

    HookNotFound for an unknown or disposed token (or a run that ended);
    ValueError when a typed hook's payload has the wrong shape. Either way
    nothing is written."""
    hook = await world.get_hook(token)
    if hook is None:
        raise HookNotFound(token)
    type_ref = hook.metadata.get("payload_type") if isinstance(hook.metadata, dict) else None
    if isinstance(type_ref, str):
        payload = _validate_payload(type_ref, payload)
    data = serde.to_builtins(payload, "payload")
    for _ in range(_RESUME_TRIES):
        run = await world.get_run(hook.run_id)
        if run is None or run.status in TERMINAL_STATUSES:
            raise HookNotFound(token)
        event = NewEvent("hook_received", time.time(), hook.correlation_id, {"payload": data})
        try:
            await world.append(run.id, run.last_seq, [event])
        except ConflictError:
            continue  # the run moved on meanwhile: read it again
        await world.enqueue(FLOW, run.id)
        return run.id
    raise HookNotFound(token)


def _validate_payload(type_ref: str, payload: Any) -> Any:
    """Convert to the typed hook's payload type (`module:qualname`, recorded
    by `define_hook(...).create()`); ValueError with msgspec's message."""
    module, _, qualname = type_ref.partition(":")
    target: Any = importlib.import_module(module)
    for part in qualname.split("."):
        target = getattr(target, part)
    try:
        return msgspec.convert(payload, target, strict=False)
    except msgspec.ValidationError as exc:
        raise ValueError(f"invalid payload for {qualname}: {exc}") from None


def outcome(run: RunInfo) -> Any:
    """A finished run's result; WorkflowFailed (the failing error's type and
    message) or WorkflowCancelled otherwise."""
    return _outcome(run.id, run.status, run.output, run.error)


def recorded_outcome(run_id: str, end: NewEvent) -> Any:
    """`outcome` of a run from the terminal event this process committed for
    it, as the run's row would give it (its projection copies the event's
    payload: the JSON round trip makes the same values a read returns)."""
    payload = _json_decode(_json_encode(end.payload)) if end.payload else {}
    return _outcome(run_id, END_STATUS[end.type], payload.get("result"), payload.get("error"))


def _outcome(run_id: str, status: str, output: Any, error: dict[str, Any] | None) -> Any:
    if status == "completed":
        return serde.from_builtins(output)
    if status == "cancelled":
        raise WorkflowCancelled(run_id)
    error = error or {}
    raise WorkflowFailed(
        run_id,
        str(error.get("type", "Error")).rsplit(".", 1)[-1],
        str(error.get("message", "")),
        str(error.get("traceback", "")),
    )
