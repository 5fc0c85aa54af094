"""The client of the in-process runtime: the running event loop's runtime,
started on first use (`wdk.runtime.engine.get_runtime`).

    configure(data_dir=".wdk")       # the local world (the default)
    run = await start(checkout, "o1")   # LocalClient.start -> Runtime.start_run
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from wdk.client.base import StartOptions, WorkflowRef
from wdk.durations import parse_duration
from wdk.errors import RunNotFound
from wdk.runtime.engine import get_runtime
from wdk.runtime.hooks import HookInfo, lookup_hook
from wdk.runtime.stream_index import resolve_start, tail_index
from wdk.runtime.stream_reader import RunStream
from wdk.runtime.webhooks import WebhookRequest, WebhookResponse, deliver
from wdk.worlds.base import Event, RunStatus, StreamChunk

__all__ = ["LocalClient"]


class LocalClient:
    """Every call goes to the runtime of the loop it is made in."""

    def __repr__(self) -> str:
        return "LocalClient()"

    async def start(
        self, workflow: WorkflowRef, args: tuple[Any, ...], kwargs: dict[str, Any], options: StartOptions
    ) -> str:
        rt = await get_runtime()
        debounce = None
        if options.debounce is not None:
            debounce = (parse_duration(options.debounce[0]), str(options.debounce[1]))
        # The function itself: its id is found with one look at its source (runs.prepare_run).
        return await rt.start_run(
            workflow, args, kwargs,
            idempotency_key=options.idempotency_key, priority=options.priority, debounce=debounce,
        )

    async def status(self, run_id: str) -> RunStatus:
        rt = await get_runtime()
        run = await rt.world.get_run(run_id)
        if run is None:
            raise RunNotFound(run_id)
        return run.status

    async def result(self, run_id: str, timeout: float | None) -> Any:
        rt = await get_runtime()
        return await rt.result(run_id, timeout)

    async def events(self, run_id: str) -> list[Event]:
        rt = await get_runtime()
        if await rt.world.get_run(run_id) is None:
            raise RunNotFound(run_id)
        return await rt.world.read_events(run_id)

    async def cancel(self, run_id: str) -> None:
        rt = await get_runtime()
        await rt.cancel(run_id)

    async def rerun(self, run_id: str, from_step: int | None) -> str:
        rt = await get_runtime()
        return await rt.rerun(run_id, from_step)

    async def retry(self, run_id: str) -> str:
        rt = await get_runtime()
        return await rt.retry(run_id)

    def stream(self, run_id: str, namespace: str | None, start: int) -> RunStream:
        ns = namespace or "default"

        async def follow() -> AsyncIterator[StreamChunk]:
            rt = await get_runtime()
            first = await resolve_start(rt.world, run_id, ns, start)
            stream.rebase(first)
            return rt.world.stream_follow(run_id, ns, first)

        stream = RunStream(follow, max(start, 0))
        return stream

    async def stream_tail_index(self, run_id: str, namespace: str | None) -> int:
        rt = await get_runtime()
        return await tail_index(rt.world, run_id, namespace or "default")

    async def resume_hook(self, token: str, payload: Any) -> str:
        rt = await get_runtime()
        return await rt.resume_hook(token, payload)

    async def get_hook(self, token: str) -> HookInfo:
        rt = await get_runtime()
        return await lookup_hook(rt.world, token)

    async def resume_webhook(self, token: str, request: WebhookRequest) -> WebhookResponse:
        rt = await get_runtime()
        _, response = await deliver(rt, token, request)
        return response
