"""Client-side API: start runs, follow them, cancel them.

    from wdk.api import start

    run = await start(hail_ride, "req_123")
    print(await run.status())          # "running"
    receipt = await run.result()
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import AsyncIterator, Callable, Coroutine
from typing import TYPE_CHECKING, Any, TypeVar

import msgspec

from wdk.errors import RunNotFound, WorkflowCancelled, WorkflowFailed
from wdk.runtime import serde
from wdk.runtime.arguments import check_arguments
from wdk.runtime.config import configure
from wdk.runtime.runtime import FLOW, LEASE_SECONDS, get_runtime
from wdk.runtime.stream_reader import RunStream
from wdk.worlds.base import TERMINAL_STATUSES, Event, NewEvent, NewRun, RunInfo, StreamChunk

if TYPE_CHECKING:
    from wdk.runtime.webhooks import WebhookRequest, WebhookResponse
    from wdk.server.client import ServerClient

__all__ = ["Run", "configure", "get_run", "resume_hook", "resume_webhook", "run_sync", "start"]

T = TypeVar("T")
_json_encode = msgspec.json.Encoder().encode
_json_decode = msgspec.json.Decoder().decode


def _new_run_id() -> str:
    """Time-ordered and unique: `wrun_<ms since epoch, hex><80 random bits>`."""
    return f"wrun_{int(time.time() * 1000):012x}{os.urandom(10).hex()}"


class Run:
    """A handle on one run. Creating it does no I/O (`get_run`)."""

    def __init__(self, run_id: str) -> None:
        self.id = run_id

    def __repr__(self) -> str:
        return f"Run({self.id!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Run) and other.id == self.id

    def __hash__(self) -> int:
        return hash(self.id)

    async def status(self) -> str:
        """"pending", "running", "completed", "failed" or "cancelled"."""
        _outside_workflow("Run.status()")
        remote = _remote()
        if remote is not None:
            return (await remote.get_run(self.id)).status
        rt = await get_runtime()
        run = await rt.world.get_run(self.id)
        if run is None:
            raise RunNotFound(self.id)
        return run.status

    async def result(self, timeout: float | None = None) -> Any:
        """Wait for the run to end and return its result. Raises WorkflowFailed
        (with the failing error's type and message) or WorkflowCancelled."""
        if _in_workflow():
            from wdk.runtime.children import AWAIT_CHILD
            from wdk.runtime.compiled import step_call

            return await step_call(AWAIT_CHILD, (self.id,), {})
        remote = _remote()
        if remote is not None:
            return _outcome(await remote.wait_terminal(self.id, timeout))
        rt = await get_runtime()
        return _outcome(await rt.wait_terminal(self.id, timeout))

    async def events(self) -> list[Event]:
        """The run's whole event log, in order."""
        remote = _remote()
        if remote is not None:
            return await remote.events(self.id)
        rt = await get_runtime()
        if await rt.world.get_run(self.id) is None:
            raise RunNotFound(self.id)
        return await rt.world.read_events(self.id)

    async def cancel(self) -> None:
        """Cancel the run: it ends `cancelled` whether it sleeps, waits or runs
        a step (an async step in this process is cancelled too). No-op once ended."""
        remote = _remote()
        if remote is not None:
            return await remote.cancel(self.id)
        rt = await get_runtime()
        while True:
            run = await rt.world.get_run(self.id)
            if run is None:
                raise RunNotFound(self.id)
            if run.status in TERMINAL_STATUSES:
                return
            try:
                await rt.world.append(self.id, run.last_seq, [NewEvent("run_cancelled", time.time())])
            except Exception as exc:
                from wdk.errors import ConflictError

                if isinstance(exc, ConflictError):
                    continue  # a worker appended meanwhile: read again
                raise
            break
        rt.orchestrator.cancel_local(self.id)
        rt._run_finished(self.id)

    def stream(self, namespace: str | None = None, start: int = 0) -> RunStream:
        """Chunks written by the run's steps, from index `start`, following the
        stream until it is closed (at the latest when the run ends). A chunk you
        got from a step attempt that then failed or died is taken back by a
        `wdk.StreamRollback` item; `.index` / `.next_index` of the returned
        iterator say where you are (resume with `start=stream.next_index`)."""
        remote = _remote()
        if remote is not None:
            return RunStream.of_pairs(remote.stream(self.id, namespace, start), start)

        async def follow() -> AsyncIterator[StreamChunk]:
            rt = await get_runtime()
            return rt.world.stream_follow(self.id, namespace or "default", start)

        return RunStream(follow, start)


def _outcome(run: RunInfo) -> Any:
    if run.status == "completed":
        return serde.from_builtins(run.output)
    if run.status == "cancelled":
        raise WorkflowCancelled(run.id)
    error = run.error or {}
    raise WorkflowFailed(
        run.id,
        str(error.get("type", "Error")).rsplit(".", 1)[-1],
        str(error.get("message", "")),
        str(error.get("traceback", "")),
    )


def _outside_workflow(what: str) -> None:
    if _in_workflow():
        from wdk.errors import WorkflowSandboxError

        raise WorkflowSandboxError(
            f"{what} reads live state and is not allowed in a workflow: call it in a \"use step\" function"
        )


def get_run(run_id: str) -> Run:
    """A handle for an existing run id (no I/O; unknown ids fail on first use)."""
    return Run(run_id)


async def start(
    workflow: Callable[..., Coroutine[Any, Any, Any]] | str,
    *args: Any,
    idempotency_key: str | None = None,
    _parent_run_id: str | None = None,
    **kwargs: Any,
) -> Run:
    """Start a durable run of `workflow` (a workflow function or its id).

    The arguments are checked against the workflow's signature first: a
    call that could not begin raises TypeError here and writes nothing.
    With `idempotency_key`, starting again with the same key returns the
    first run instead of starting another. Inside a workflow, `start()`
    starts a child run (recorded as a step of the parent) and
    `await run.result()` waits for it durably.
    """
    if _in_workflow():
        return await _start_child(workflow, args, kwargs)
    remote = _remote()
    if remote is not None:
        from wdk.runtime.loader import default_loader

        if not isinstance(workflow, str):
            check_arguments(workflow, args, kwargs)  # the server checks again, with its code
        workflow_id = workflow if isinstance(workflow, str) else default_loader().workflow_id_of(workflow)
        return Run(await remote.start(workflow_id, args, kwargs, idempotency_key))
    rt = await get_runtime()
    loader = rt.loader
    workflow_id = workflow if isinstance(workflow, str) else loader.workflow_id_of(workflow)
    # Compile and load now, and check the arguments against the signature:
    # broken code or a call that cannot begin fails here, not in a worker.
    check_arguments(loader.workflow_function(workflow_id), args, kwargs)
    payload = {
        "workflow_id": workflow_id,
        "input": serde.encode_call(args, kwargs),
        # Secret per run: seeds the workflow's deterministic randomness (and
        # hook tokens), so replay repeats it but outsiders cannot guess it.
        "seed": os.urandom(16).hex(),
    }
    new = NewRun(
        _new_run_id(),
        workflow_id,
        time.time(),
        payload,
        idempotency_key=idempotency_key,
        parent_run_id=_parent_run_id,
    )
    # One round trip: the run and its queue message in one transaction, the
    # message leased to this process's runtime when it can advance the run
    # now (then it needs neither a lease call nor a read of the log).
    info, created, lease = await rt.world.start_run(
        new, FLOW, owner=rt.adoptive_owner(), lease_for=LEASE_SECONDS
    )
    if created and lease is not None:
        first = Event(info.id, 0, "run_created", new.at, None, _as_stored(payload))
        rt.adopt(lease, [first])
    return Run(info.id)


def _as_stored(payload: dict[str, Any]) -> dict[str, Any]:
    """The payload as a read of the log returns it (JSON round trip: tuples are lists)."""
    stored: dict[str, Any] = _json_decode(_json_encode(payload))
    return stored


async def resume_hook(token: str, payload: Any) -> Run:
    """Send `payload` to the live hook with this token; its run continues.

    Raises HookNotFound for an unknown or disposed token, ValueError (with the
    validation message) when a typed hook gets a payload of the wrong shape;
    in both cases nothing is written and the run keeps waiting.
    """
    _outside_workflow("resume_hook()")
    remote = _remote()
    if remote is not None:
        return Run(await remote.resume_hook(token, payload))
    return await _resume_hook_local(token, payload)


async def _resume_hook_local(token: str, payload: Any) -> Run:
    from wdk.errors import ConflictError, HookNotFound

    rt = await get_runtime()
    hook = await rt.world.get_hook(token)
    if hook is None:
        raise HookNotFound(token)
    type_ref = hook.metadata.get("payload_type") if isinstance(hook.metadata, dict) else None
    if isinstance(type_ref, str):
        payload = _validate_payload(type_ref, payload)
    data = serde.to_builtins(payload, "payload")
    for _ in range(100):
        run = await rt.world.get_run(hook.run_id)
        if run is None or run.status in TERMINAL_STATUSES:
            raise HookNotFound(token)
        event = NewEvent("hook_received", time.time(), hook.correlation_id, {"payload": data})
        try:
            await rt.world.append(run.id, run.last_seq, [event])
        except ConflictError:
            continue  # the run moved on meanwhile: read it again
        await rt.world.enqueue(FLOW, run.id)
        return Run(run.id)
    raise HookNotFound(token)


async def resume_webhook(token: str, request: WebhookRequest | None = None) -> WebhookResponse:
    """Deliver `request` to the webhook with this token, as its URL would, and
    return the HTTP reply (202, the fixed response, or the one the workflow
    gave with `respond_with`). Raises HookNotFound for an unknown token.

        reply = await resume_webhook(token, WebhookRequest.make("POST", body={"ok": True}))
    """
    from wdk.runtime.webhooks import WebhookRequest, deliver

    _outside_workflow("resume_webhook()")
    request = request if request is not None else WebhookRequest()
    remote = _remote()
    if remote is not None:
        response: WebhookResponse = await remote.resume_webhook(token, request)
        return response
    _, response = await deliver(token, request)
    return response


def _remote() -> ServerClient | None:
    """The HTTP client when `configure(server_url=...)` (or WDK_SERVER_URL) is set."""
    from wdk.runtime.config import settings

    url = settings.server_url or os.environ.get("WDK_SERVER_URL")
    if not url:
        return None
    from wdk.server.client import ServerClient

    return ServerClient(url)


def _validate_payload(type_ref: str, payload: Any) -> Any:
    import importlib

    import msgspec

    module, _, qualname = type_ref.partition(":")
    target: Any = importlib.import_module(module)
    for part in qualname.split("."):
        target = getattr(target, part)
    try:
        return msgspec.convert(payload, target, strict=False)
    except msgspec.ValidationError as exc:
        raise ValueError(f"invalid payload for {qualname}: {exc}") from None


def _in_workflow() -> bool:
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        return False
    return getattr(loop, "instance", None) is not None


async def _start_child(workflow: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Run:
    from wdk.runtime.children import START_CHILD
    from wdk.runtime.compiled import step_call

    if not isinstance(workflow, str):
        # At the workflow's own line, and before the child's start is recorded.
        check_arguments(workflow, args, kwargs)
    workflow_id = workflow if isinstance(workflow, str) else getattr(workflow, "__wdk_workflow_id__", None)
    if workflow_id is None:
        from wdk.runtime.loader import default_loader

        workflow_id = default_loader().workflow_id_of(workflow)
    run_id = await step_call(START_CHILD, (workflow_id, list(args), kwargs), {})
    return Run(run_id)


def run_sync(workflow: Callable[..., Coroutine[Any, Any, T]] | str, *args: Any, **kwargs: Any) -> Any:
    """Start a run and wait for its result, from synchronous code (a script)."""

    async def main() -> Any:
        run = await start(workflow, *args, **kwargs)
        return await run.result()

    return asyncio.run(main())
