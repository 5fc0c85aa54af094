"""The well-known handlers: flow, step, webhook, stream, health.

    POST /.well-known/workflow/v1/flow      {"run_id"}                     signed: advance the run
    POST /.well-known/workflow/v1/step      {"run_id", "correlation_id"}   signed: run its pending step
    ANY  /.well-known/workflow/v1/webhook/{token}                          deliver to a webhook
    GET  /.well-known/workflow/v1/runs/{id}/stream?namespace=&start=       NDJSON, or SSE (start < 0: from the end)
    GET  /.well-known/workflow/v1/health                                   200 or 503, JSON (no token)

Flow and step only enqueue the run: the queue is how work moves, and the
runtime that leases it does the rest (so a duplicate request costs nothing).
"""

from __future__ import annotations

import asyncio
from typing import Any

import msgspec
from aiohttp import web

from wdk.errors import HookNotFound, RunNotFound
from wdk.protocol import (
    FLOW_PATH,
    HEALTH_PATH,
    STEP_PATH,
    STREAM_ROUTE,
    WEBHOOK_PATH,
    BadRequest,
    NotFound,
    clean,
    reply_headers,
    request_headers,
)
from wdk.runtime.health import check_health
from wdk.runtime.runs import FLOW
from wdk.runtime.stream_index import start_and_tail
from wdk.runtime.webhooks import NoResponse, WebhookRequest, deliver
from wdk.server.edge import (
    RUNTIME,
    SECRET,
    VERIFIER,
    WEBHOOK_MAX_BYTES,
    error_response,
    expect_handler,
    json_response,
)
from wdk.server.ratelimit import GuessLimit
from wdk.server.signing import HEADER, Verifier
from wdk.server.streaming import parse_start, send_stream, wants_sse
from wdk.settings import current_settings

GUESSES: web.AppKey[GuessLimit] = web.AppKey("guesses", GuessLimit)


def add_routes(app: web.Application) -> None:
    app[GUESSES] = GuessLimit(current_settings().webhook_guesses)
    add = app.router.add_route
    add("POST", FLOW_PATH, flow, expect_handler=expect_handler)
    add("POST", STEP_PATH, step, expect_handler=expect_handler)
    add("*", WEBHOOK_PATH + "{token}", webhook, expect_handler=expect_handler)
    add("GET", STREAM_ROUTE, stream, expect_handler=expect_handler)
    add("GET", HEALTH_PATH, health, expect_handler=expect_handler)


def json_object(body: bytes) -> dict[str, Any]:
    try:
        data = msgspec.json.decode(body)
    except (msgspec.DecodeError, RecursionError) as exc:  # RecursionError: nested too deeply
        raise BadRequest(f"malformed JSON: {exc}") from None
    if not isinstance(data, dict):
        raise BadRequest("the body must be a JSON object")
    return data


def str_field(data: dict[str, Any], name: str) -> str:
    value = data.get(name)
    if not isinstance(value, str) or not value:
        raise BadRequest(f"{name!r} must be a non-empty string")
    return value


def use_secret(app: web.Application, secret: str) -> None:
    """Sign the flow and step endpoints of `app` with `secret`."""
    app[SECRET] = secret
    app[VERIFIER] = Verifier(secret)


async def _signed(request: web.Request) -> bytes:
    body = await request.read()
    refused = request.app[VERIFIER].verify(body, request.headers.get(HEADER))
    if refused is not None:
        raise web.HTTPUnauthorized(
            text=msgspec.json.encode({"error": refused, "type": "Unauthorized"}).decode(),
            content_type="application/json",
        )
    return body


async def flow(request: web.Request) -> web.StreamResponse:
    data = json_object(await _signed(request))
    run_id = str_field(data, "run_id")
    world = request.app[RUNTIME].world
    if await world.get_run(run_id) is None:
        raise RunNotFound(run_id)
    await world.enqueue(FLOW, run_id)
    return json_response({"ok": True, "run_id": run_id}, status=202)


async def step(request: web.Request) -> web.StreamResponse:
    data = json_object(await _signed(request))
    run_id = str_field(data, "run_id")
    correlation_id = str_field(data, "correlation_id")
    world = request.app[RUNTIME].world
    if await world.get_run(run_id) is None:
        raise RunNotFound(run_id)
    if not any(s.correlation_id == correlation_id for s in await world.list_steps(run_id)):
        raise NotFound(f"run {run_id} has no step {correlation_id!r}")
    await world.enqueue(FLOW, run_id)
    return json_response({"ok": True, "run_id": run_id, "correlation_id": correlation_id}, status=202)


async def _read_limited(request: web.Request, limit: int) -> bytes:
    too_big = error_response(413, f"the body is larger than {limit} bytes (WDK_WEBHOOK_MAX_BYTES)", "TooLarge")
    if request.content_length is not None and request.content_length > limit:
        raise web.HTTPRequestEntityTooLarge(max_size=limit, actual_size=request.content_length,
                                            text=too_big.text, content_type="application/json")
    parts: list[bytes] = []
    size = 0
    while True:
        part = await request.content.readany()
        if not part:
            return b"".join(parts)
        size += len(part)
        if size > limit:
            raise web.HTTPRequestEntityTooLarge(max_size=limit, actual_size=size,
                                                text=too_big.text, content_type="application/json")
        parts.append(part)


def too_many(wait: float) -> web.Response:
    resp = error_response(429, "too many unknown webhook tokens from this client (WDK_WEBHOOK_GUESSES)",
                          "TooManyRequests")
    resp.headers["retry-after"] = str(max(1, round(wait)))
    return resp


async def webhook(request: web.Request) -> web.StreamResponse:
    token = request.match_info["token"]
    client = request.remote or "?"
    guesses = request.app[GUESSES]
    if (wait := guesses.wait(client)) is not None:
        return too_many(wait)
    body = await _read_limited(request, request.app[WEBHOOK_MAX_BYTES])
    headers = request_headers(request.headers.items())
    delivered = WebhookRequest(clean(request.method), clean(str(request.url)), headers, body)
    # Shielded: a client that hangs up after the hook_received append must not
    # leave the run un-enqueued.
    try:
        _, reply = await asyncio.shield(deliver(request.app[RUNTIME], token, delivered))
    except NoResponse as exc:
        return error_response(502, str(exc), "NoResponse")
    except HookNotFound:
        guesses.miss(client)
        raise
    out_headers = reply_headers(reply.headers)
    no_body = reply.status in (204, 304) or request.method == "HEAD"
    return web.Response(status=reply.status, body=None if no_body else reply.body, headers=out_headers)


async def stream(request: web.Request) -> web.StreamResponse:
    run_id = request.match_info["run_id"]
    sse = wants_sse(request)
    start = parse_start(request, sse)
    namespace = request.query.get("namespace") or "default"
    world = request.app[RUNTIME].world
    if await world.get_run(run_id) is None:
        raise RunNotFound(run_id)
    start, tail = await start_and_tail(world, run_id, namespace, start)
    return await send_stream(request, world, run_id, namespace, start, sse, tail)


async def health(request: web.Request) -> web.StreamResponse:
    report = await check_health(request.app[RUNTIME])
    return json_response(report.to_json(), status=200 if report.ok else 503)
