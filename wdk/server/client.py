"""`wdk.api` over HTTP: what a process configured with `server_url` uses.

    configure(server_url="http://127.0.0.1:3000")
    run = await start(checkout, "order-1")      # POST /api/runs
    await run.result()                          # GET /api/runs/{id}?wait=...

Values travel in wdk's serde form (plain JSON stays plain JSON), so results,
hook payloads and stream chunks keep their types across processes.
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import msgspec

from wdk.errors import HookNotFound, RunNotFound, WdkError
from wdk.runtime import serde
from wdk.runtime.hooks import HookInfo
from wdk.worlds.base import Event, RunInfo

WELL_KNOWN = "/.well-known/workflow/v1"
LONG_POLL = 20.0  # seconds one `GET /api/runs/{id}?wait=` may hold


class ServerError(WdkError):
    """The server refused a request (the message is its error text)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"HTTP {status}: {message}")
        self.status = status
        self.message = message


def _timeout(total: float | None = None) -> aiohttp.ClientTimeout:
    return aiohttp.ClientTimeout(total=total, sock_connect=10)


class ServerClient:
    """A thin client of the JSON API. A session per call: sessions belong to
    one event loop, and a client may be used from several (`asyncio.run` twice)."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url.rstrip("/")

    async def _call(self, method: str, path: str, *, body: Any = None, params: dict[str, str] | None = None,
                    wait: float = 0.0) -> Any:
        data = None if body is None else msgspec.json.encode(body)
        headers = {"content-type": "application/json"} if data is not None else {}
        async with aiohttp.ClientSession(timeout=_timeout(60 + wait)) as session, session.request(
            method, self.base_url + path, data=data, params=params, headers=headers
        ) as resp:
            raw = await resp.read()
            if resp.status >= 400:
                _raise(resp.status, raw)
            return msgspec.json.decode(raw) if raw else None

    # --- runs ---------------------------------------------------------------------

    async def start(self, workflow_id: str, args: tuple[Any, ...], kwargs: dict[str, Any],
                    idempotency_key: str | None) -> str:
        body = {
            "workflow": workflow_id,
            "args": serde.to_builtins(list(args), "args"),
            "kwargs": serde.to_builtins(kwargs, "kwargs"),
            "idempotency_key": idempotency_key,
        }
        out = await self._call("POST", "/api/runs", body=body)
        return str(out["run_id"])

    async def get_run(self, run_id: str, wait: float = 0.0) -> RunInfo:
        params = {"wait": f"{wait:g}"} if wait > 0 else None
        out = await self._call("GET", f"/api/runs/{_q(run_id)}", params=params, wait=wait)
        return msgspec.convert(out, RunInfo)

    async def wait_terminal(self, run_id: str, timeout: float | None) -> RunInfo:
        from wdk.worlds.base import TERMINAL_STATUSES

        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            wait = LONG_POLL if deadline is None else min(LONG_POLL, deadline - time.monotonic())
            run = await self.get_run(run_id, max(wait, 0.0))
            if run.status in TERMINAL_STATUSES:
                return run
            if deadline is not None and time.monotonic() >= deadline:
                raise TimeoutError(f"run {run_id} did not finish within {timeout} s")

    async def events(self, run_id: str) -> list[Event]:
        out = await self._call("GET", f"/api/runs/{_q(run_id)}/events")
        return msgspec.convert(out["events"], list[Event])

    async def cancel(self, run_id: str) -> None:
        await self._call("POST", f"/api/runs/{_q(run_id)}/cancel")

    async def resume_hook(self, token: str, payload: Any) -> str:
        out = await self._call("POST", f"/api/hooks/{_q(token)}", body={"payload": serde.to_builtins(payload, "payload")})
        return str(out["run_id"])

    async def get_hook(self, token: str) -> HookInfo:
        out = await self._call("GET", f"/api/hooks/{_q(token)}")
        return msgspec.convert(out, HookInfo)

    async def resume_webhook(self, token: str, request: Any) -> Any:
        """POST (or the request's method) to the webhook URL itself; the reply."""
        from wdk.runtime.webhooks import WEBHOOK_PATH, WebhookResponse

        async with aiohttp.ClientSession(timeout=_timeout(120)) as session, session.request(
            request.method, self.base_url + WEBHOOK_PATH + _q(token), data=request.body, headers=request.headers
        ) as resp:
            body = await resp.read()
            if resp.status == 404:
                raise HookNotFound(token)
            headers = {k.lower(): v for k, v in resp.headers.items() if k.lower() not in _HOP}
            return WebhookResponse(resp.status, body, headers)

    async def stream(self, run_id: str, namespace: str | None, start: int) -> AsyncIterator[tuple[int, Any]]:
        """(index, value or StreamRollback) from the NDJSON stream; its gap lines keep the index right."""
        from wdk.runtime.stream_reader import NDJSON_GAP, NDJSON_ROLLBACK, StreamRollback

        params = {"start": str(start)}
        if namespace:
            params["namespace"] = namespace
        url = f"{self.base_url}{WELL_KNOWN}/runs/{_q(run_id)}/stream"
        index = start
        async with aiohttp.ClientSession(timeout=_timeout()) as session, session.get(url, params=params) as resp:
            if resp.status >= 400:
                _raise(resp.status, await resp.read())
            async for line in resp.content:
                if not line.strip():
                    continue
                control = json.loads(line) if line.startswith(_CONTROL) else None
                if control is None or control["$wdk"] not in (NDJSON_GAP, NDJSON_ROLLBACK):
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
        from wdk.server.streaming import TAIL_HEADER

        params = {"start": "-1"}
        if namespace:
            params["namespace"] = namespace
        url = f"{self.base_url}{WELL_KNOWN}/runs/{_q(run_id)}/stream"
        async with aiohttp.ClientSession(timeout=_timeout(60)) as session, session.get(url, params=params) as resp:
            if resp.status >= 400:
                _raise(resp.status, await resp.read())
            return int(resp.headers[TAIL_HEADER])


_CONTROL = b'{"$wdk":"'  # how the server writes a control line (and a tagged value)
_HOP = {"content-length", "transfer-encoding", "connection", "date", "server", "keep-alive"}


def _q(part: str) -> str:
    from urllib.parse import quote

    return quote(part, safe="")


def _raise(status: int, raw: bytes) -> None:
    try:
        info = json.loads(raw)
        message, kind, ident = str(info.get("error", "")), str(info.get("type", "")), str(info.get("id", ""))
    except (ValueError, AttributeError):
        message, kind, ident = raw.decode(errors="replace")[:500], "", ""
    if status == 404 and kind == "RunNotFound":
        raise RunNotFound(ident)
    if status == 404 and kind == "HookNotFound":
        raise HookNotFound(ident)
    if status == 400 and kind == "ValueError":
        raise ValueError(message)
    if status == 400 and kind == "TypeError":  # arguments that do not fit the workflow
        raise TypeError(message)
    raise ServerError(status, message or f"HTTP {status}")
