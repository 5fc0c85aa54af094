"""Client-side API: start runs, follow them, cancel them.

    from wdk.api import start

    run = await start(hail_ride, "req_123")
    print(await run.status())          # "running"
    receipt = await run.result()

Every call goes to the client chosen for this event loop (`wdk.client`): the
in-process runtime, a `wdk serve` (`configure(server_url=...)`), or, inside
workflow code, the running workflow (a child run).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, Generic, ParamSpec, TypeVar, overload

from wdk.client import Client, StartOptions, current_client
from wdk.durations import Duration
from wdk.runtime.config import configure
from wdk.runtime.hooks import HookInfo
from wdk.runtime.stream_reader import RunStream
from wdk.runtime.webhooks import WebhookRequest, WebhookResponse
from wdk.worlds.base import Event, RunStatus

__all__ = [
    "HookInfo",
    "Run",
    "StartOptions",
    "Starter",
    "configure",
    "get_hook",
    "get_run",
    "resume_hook",
    "resume_webhook",
    "run_sync",
    "start",
    "start_with",
]

P = ParamSpec("P")
R = TypeVar("R")


class Run(Generic[R]):
    """A handle on one run; `R` is its workflow's return type. Creating it
    does no I/O (`get_run`); it keeps the client it was made with."""

    def __init__(self, run_id: str, client: Client | None = None) -> None:
        self.id = run_id
        self._client = client if client is not None else current_client()

    def __repr__(self) -> str:
        return f"Run({self.id!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Run) and other.id == self.id

    def __hash__(self) -> int:
        return hash(self.id)

    async def status(self) -> RunStatus:
        """"pending", "running", "blocked" (its history does not replay against
        the deployed code: docs/deploys.md), "completed", "failed" or "cancelled"."""
        return await self._client.status(self.id)

    async def result(self, timeout: float | None = None) -> R:
        """Wait for the run to end and return its result. Raises WorkflowFailed
        (with the failing error's type and message) or WorkflowCancelled."""
        value: R = await self._client.result(self.id, timeout)
        return value

    async def events(self) -> list[Event]:
        """The run's whole event log, in order."""
        return await self._client.events(self.id)

    async def cancel(self) -> None:
        """Cancel the run: it ends `cancelled` whether it sleeps, waits or runs
        a step (an async step in this process is cancelled too). No-op once ended."""
        await self._client.cancel(self.id)

    async def rerun(self, from_step: int | None = None) -> Run[R]:
        """Start a new run with this run's input that reuses the results this
        run recorded for its steps before step `from_step` (1: its first step;
        None: every step that completed); those steps do not run again. The
        new run's `run_created` names this one (`rerun_of`).

            again = await get_run(failed_id).rerun(from_step=3)   # steps 1-2 reused
        """
        return Run(await self._client.rerun(self.id, from_step), self._client)

    async def retry(self) -> None:
        """Continue this run, failed because a step used up its retries: the
        step runs again (with fresh retries) and the run goes on, same id
        (`run_resumed` in its log). ValueError when it did not fail in a step."""
        await self._client.retry(self.id)

    def stream(self, namespace: str | None = None, start: int = 0) -> RunStream:
        """Chunks written by the run's steps, from index `start`, following the
        stream until it is closed (at the latest when the run ends). A negative
        `start` counts from the end (`-1`: the last chunk written so far). A
        chunk you got from a step attempt that then failed or died is taken back
        by a `wdk.StreamRollback` item; `.index` / `.next_index` of the returned
        iterator say where you are (resume with `start=stream.next_index`)."""
        return self._client.stream(self.id, namespace, start)

    async def stream_tail_index(self, namespace: str | None = None) -> int:
        """Index of the last chunk written to the stream so far; -1 when none."""
        return await self._client.stream_tail_index(self.id, namespace)


def get_run(run_id: str) -> Run[Any]:
    """A handle for an existing run id (no I/O; unknown ids fail on first use)."""
    return Run(run_id)


async def _start(workflow: Callable[..., Any] | str, args: tuple[Any, ...], kwargs: dict[str, Any],
                 options: StartOptions) -> Run[Any]:
    client = current_client()
    return Run(await client.start(workflow, args, kwargs, options), client)


@overload
async def start(workflow: Callable[P, Awaitable[R]], /, *args: P.args, **kwargs: P.kwargs) -> Run[R]: ...
@overload
async def start(workflow: str, /, *args: Any, **kwargs: Any) -> Run[Any]: ...
async def start(workflow: Callable[..., Awaitable[Any]] | str, /, *args: Any, **kwargs: Any) -> Run[Any]:
    """Start a durable run of `workflow` (a workflow function or its id).

    The arguments are checked against the workflow's signature first: a
    call that could not begin raises TypeError here and writes nothing.
    Inside a workflow, `start()` starts a child run (recorded as a step of
    the parent) and `await run.result()` waits for it durably.

    Options go through `start_with`, apart from the arguments:

        run = await start_with(idempotency_key="order-17")(checkout, "order-17")

    (`start(checkout, "order-17", idempotency_key="order-17")` works too, but
    a type checker takes `idempotency_key` for an argument of `checkout`.)
    """
    options = StartOptions(
        idempotency_key=kwargs.pop("idempotency_key", None),
        priority=kwargs.pop("priority", 0),
        debounce=kwargs.pop("debounce", None),
    )
    return await _start(workflow, args, kwargs, options)


class Starter:
    """`start` with options (`start_with(...)`): call it as you call `start`."""

    def __init__(self, options: StartOptions) -> None:
        self.options = options

    def __repr__(self) -> str:
        return f"Starter({self.options!r})"

    @overload
    async def __call__(self, workflow: Callable[P, Awaitable[R]], /, *args: P.args, **kwargs: P.kwargs) -> Run[R]: ...
    @overload
    async def __call__(self, workflow: str, /, *args: Any, **kwargs: Any) -> Run[Any]: ...
    async def __call__(self, workflow: Callable[..., Awaitable[Any]] | str, /, *args: Any, **kwargs: Any) -> Run[Any]:
        return await _start(workflow, args, kwargs, self.options)


def start_with(
    *,
    idempotency_key: str | None = None,
    priority: int = 0,
    debounce: tuple[Duration, str] | None = None,
) -> Starter:
    """`start`, with options that can never be mistaken for the workflow's
    own arguments (a workflow may well have an `idempotency_key` parameter):

        run = await start_with(idempotency_key="order-17")(checkout, "order-17")

    `idempotency_key`: a second start with the same key returns the first run.
    `priority`: higher runs (and their steps) are taken first when work queues.
    `debounce=("30s", key)`: starts with one key within 30 s of the first make
    one run, with the last arguments, begun when the window closes.
    """
    if isinstance(priority, bool) or not isinstance(priority, int):
        raise TypeError(f"priority must be an int, not {priority!r}")
    return Starter(StartOptions(idempotency_key=idempotency_key, priority=priority, debounce=debounce))


async def resume_hook(token: str, payload: Any) -> Run[Any]:
    """Send `payload` to the live hook with this token; its run continues.

    Raises HookNotFound for an unknown or disposed token, ValueError (with the
    validation message) when a typed hook gets a payload of the wrong shape;
    in both cases nothing is written and the run keeps waiting.
    """
    client = current_client()
    return Run(await client.resume_hook(token, payload), client)


async def get_hook(token: str) -> HookInfo:
    """The hook holding `token`: its run, when it was created, whether it is
    still open. A token no live hook holds gives the hook that held it last
    (closed); one never used raises HookNotFound.

        info = await get_hook("approve:doc-7")
        if info.open: await resume_hook(info.token, {"approved": True})
    """
    return await current_client().get_hook(token)


async def resume_webhook(token: str, request: WebhookRequest | None = None) -> WebhookResponse:
    """Deliver `request` to the webhook with this token, as its URL would, and
    return the HTTP reply (202, the fixed response, or the one the workflow
    gave with `respond_with`). Raises HookNotFound for an unknown token.

        reply = await resume_webhook(token, WebhookRequest.make("POST", body={"ok": True}))
    """
    return await current_client().resume_webhook(token, request if request is not None else WebhookRequest())


@overload
def run_sync(workflow: Callable[P, Awaitable[R]], /, *args: P.args, **kwargs: P.kwargs) -> R: ...
@overload
def run_sync(workflow: str, /, *args: Any, **kwargs: Any) -> Any: ...
def run_sync(workflow: Callable[..., Awaitable[Any]] | str, /, *args: Any, **kwargs: Any) -> Any:
    """Start a run and wait for its result, from synchronous code (a script)."""

    async def main() -> Any:
        run = await start(workflow, *args, **kwargs)
        return await run.result()

    return asyncio.run(main())
