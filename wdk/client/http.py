"""The client of a `wdk serve` in another process (`configure(server_url=...)`).

    configure(server_url="http://127.0.0.1:3000")
    run = await start(checkout, "order-1")      # POST /api/runs
    await run.result()                          # GET /api/runs/{id}?wait=...

Values travel in wdk's serde form (plain JSON stays plain JSON), so results,
hook payloads and stream chunks keep their types across processes. Errors
come back as the exceptions the server raised (`wdk.protocol.error_from`).
"""

from __future__ import annotations

import io
import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import msgspec

from wdk.client.base import StartOptions, WorkflowRef
from wdk.errors import HookNotFound
from wdk.protocol import (
    NDJSON_GAP,
    TAIL_HEADER,
    WEBHOOK_PATH,
    control_line,
    error_from,
    quoted,
    stream_path,
)
from wdk.runtime import serde, tracing
from wdk.runtime.arguments import check_arguments
from wdk.runtime.hooks import HookInfo
from wdk.runtime.loader import default_loader
from wdk.runtime.runs import outcome
from wdk.runtime.stream_reader import RunStream, StreamRollback
from wdk.runtime.webhooks import WebhookRequest, WebhookResponse
from wdk.settings import current_settings
from wdk.worlds.base import TERMINAL_STATUSES, Event, RunInfo, RunStatus

__all__ = ["LONG_POLL", "HttpClient"]

_LARGE = 1 << 20
LONG_POLL = 20.0  # seconds one `GET /api/runs/{id}?wait=` may hold
# Headers of a webhook reply that describe the HTTP exchange, not the reply.
_EXCHANGE_HEADERS = {"content-length", "transfer-encoding", "connection", "date", "server", "keep-alive"}


def _timeout(total: float | None = None) -> aiohttp.ClientTimeout:
    return aiohttp.ClientTimeout(total=total, sock_connect=10)


class HttpClient:
    """A thin client of the JSON API. A session per call: sessions belong to
    one event loop, and a client may be used from several (`asyncio.run` twice)."""

    def __init__(self, base_url: str, api_token: str | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        # The server's API token (WDK_API_TOKEN, or configure(api_token=...)).
        token = api_token if api_token is not None else current_settings().api_token
        self._auth = {"authorization": f"Bearer {token}"} if token else {}

    def __repr__(self) -> str:
        return f"HttpClient({self.base_url!r})"

    async def _call(self, method: str, path: str, *, body: Any = None, params: dict[str, str] | None = None,
                    wait: float = 0.0) -> Any:
        if method == "POST" and body is None:
            body = {}  # the server takes only JSON POSTs (a cross-site form cannot send one)
        data = None if body is None else msgspec.json.encode(body)
        headers = {"content-type": "application/json", **self._auth} if data is not None else dict(self._auth)
        parent = tracing.traceparent()  # a run started here is a child of the caller's span
        if parent is not None:
            headers["traceparent"] = parent
        # A large body as a file: aiohttp warns that bytes would hold the loop.
        sent: Any = io.BytesIO(data) if data is not None and len(data) > _LARGE else data
        async with aiohttp.ClientSession(timeout=_timeout(60 + wait)) as session, session.request(
            method, self.base_url + path, data=sent, params=params, headers=headers
        ) as resp:
            raw = await resp.read()
            if resp.status >= 400:
                raise error_from(resp.status, raw)
            return msgspec.json.decode(raw) if raw else None

    # --- runs ---------------------------------------------------------------------

    async def start(
        self, workflow: WorkflowRef, args: tuple[Any, ...], kwargs: dict[str, Any], options: StartOptions
    ) -> str:
        if not isinstance(workflow, str):
            check_arguments(workflow, args, kwargs)  # the server checks again, with its code
        workflow_id = workflow if isinstance(workflow, str) else default_loader().workflow_id_of(workflow)
        body = {
            "workflow": workflow_id,
            "args": serde.to_builtins(list(args), "args"),
            "kwargs": serde.to_builtins(kwargs, "kwargs"),
            "idempotency_key": options.idempotency_key,
            "priority": options.priority,
            "debounce": None if options.debounce is None else [str(options.debounce[0]), options.debounce[1]],
        }
        out = await self._call("POST", "/api/runs", body=body)
        return str(out["run_id"])

    async def get_run(self, run_id: str, wait: float = 0.0) -> RunInfo:
        params = {"wait": f"{wait:g}"} if wait > 0 else None
        out = await self._call("GET", f"/api/runs/{quoted(run_id)}", params=params, wait=wait)
        return msgspec.convert(out, RunInfo)

    async def status(self, run_id: str) -> RunStatus:
        return (await self.get_run(run_id)).status

    async def wait_terminal(self, run_id: str, timeout: float | None) -> RunInfo:
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            wait = LONG_POLL if deadline is None else min(LONG_POLL, deadline - time.monotonic())
            run = await self.get_run(run_id, max(wait, 0.0))
            if run.status in TERMINAL_STATUSES:
                return run
            if deadline is not None and time.monotonic() >= deadline:
                raise TimeoutError(f"run {run_id} did not finish within {timeout} s")

    async def result(self, run_id: str, timeout: float | None) -> Any:
        return outcome(await self.wait_terminal(run_id, timeout))

    async def events(self, run_id: str) -> list[Event]:
        out = await self._call("GET", f"/api/runs/{quoted(run_id)}/events")
        return msgspec.convert(out["events"], list[Event])

    async def cancel(self, run_id: str) -> None:
        await self._call("POST", f"/api/runs/{quoted(run_id)}/cancel")

    async def rerun(self, run_id: str, from_step: int | None) -> str:
        out = await self._call("POST", f"/api/runs/{quoted(run_id)}/rerun", body={"from_step": from_step})
        return str(out["run_id"])

    async def retry(self, run_id: str) -> str:
        out = await self._call("POST", f"/api/runs/{quoted(run_id)}/retry")
        return str(out["step_id"])

    # --- hooks ----------------------------------------------------------------------

    async def resume_hook(self, token: str, payload: Any) -> str:
        body = {"payload": serde.to_builtins(payload, "payload")}
        out = await self._call("POST", f"/api/hooks/{quoted(token)}", body=body)
        return str(out["run_id"])

    async def get_hook(self, token: str) -> HookInfo:
        out = await self._call("GET", f"/api/hooks/{quoted(token)}")
        return msgspec.convert(out, HookInfo)

    async def resume_webhook(self, token: str, request: WebhookRequest) -> WebhookResponse:
        """POST (or the request's method) to the webhook URL itself; the reply."""
        async with aiohttp.ClientSession(timeout=_timeout(120)) as session, session.request(
            request.method, self.base_url + WEBHOOK_PATH + quoted(token), data=request.body, headers=request.headers
        ) as resp:
            body = await resp.read()
            if resp.status == 404:
                raise HookNotFound(token)
            headers = {k.lower(): v for k, v in resp.headers.items() if k.lower() not in _EXCHANGE_HEADERS}
            return WebhookResponse(resp.status, body, headers)

    # --- streams --------------------------------------------------------------------

    def stream(self, run_id: str, namespace: str | None, start: int) -> RunStream:
        return RunStream.of_pairs(self._stream_items(run_id, namespace, start), max(start, 0))

    async def _stream_items(self, run_id: str, namespace: str | None, start: int) -> AsyncIterator[tuple[int, Any]]:
        """(index, value or StreamRollback) from the NDJSON stream; its gap lines keep the index right."""
        params = {"start": str(start)}
        if namespace:
            params["namespace"] = namespace
        index = start
        async with aiohttp.ClientSession(timeout=_timeout()) as session, session.get(
            self.base_url + stream_path(run_id), params=params, headers=self._auth
        ) as resp:
            if resp.status >= 400:
                raise error_from(resp.status, await resp.read())
            async for line in resp.content:
                if not line.strip():
                    continue
                control = control_line(line)
                if control is None:
                    yield index, serde.loads(line)
                    index += 1
                elif control["$wdk"] == NDJSON_GAP:
                    index = int(control["next"])
                else:
                    marker = StreamRollback.from_json(control)
                    yield marker.index, marker
                    index = marker.index + 1

    async def stream_tail_index(self, run_id: str, namespace: str | None) -> int:
        """The stream endpoint's tail header (its body is not read)."""
        params = {"start": "-1"}
        if namespace:
            params["namespace"] = namespace
        async with aiohttp.ClientSession(timeout=_timeout(60)) as session, session.get(
            self.base_url + stream_path(run_id), params=params, headers=self._auth
        ) as resp:
            if resp.status >= 400:
                raise error_from(resp.status, await resp.read())
            return int(resp.headers[TAIL_HEADER])
