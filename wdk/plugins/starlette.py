"""Starlette and FastAPI: the runtime in the app's event loop, wdk's endpoints as routes.

    from fastapi import FastAPI
    from wdk.api import start
    import wdk.plugins.starlette

    app = FastAPI()
    wdk.plugins.starlette.setup(app)

    @app.post("/orders/{order_id}")
    async def place(order_id: str) -> dict[str, str]:
        run = await start(process_order, order_id)
        return {"run_id": run.id}

The runtime starts with the app (its lifespan) and stops with it, so it
advances runs while the app serves. Webhook URLs point at WDK_BASE_URL: set
it to the app's public address.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

from wdk.plugins._core import (
    NOT_FOUND,
    Reply,
    health_reply,
    missing,
    not_found,
    open_stream,
    too_large,
    webhook_limit,
    webhook_reply,
)
from wdk.protocol import HEALTH_PATH, STREAM_ROUTE, WEBHOOK_METHODS, WEBHOOK_PATH
from wdk.runtime.engine import get_runtime, shutdown_runtime

try:
    from starlette.requests import Request
    from starlette.responses import Response, StreamingResponse
    from starlette.routing import Route
except ImportError:  # pragma: no cover - depends on the environment
    raise missing("starlette", "starlette (or FastAPI)", "fastapi") from None

__all__ = ["setup"]


def setup(app: Any) -> None:
    """Run wdk's runtime with `app` (a Starlette or FastAPI app), mount the
    webhook, run-stream and health endpoints under /.well-known/workflow/v1/,
    and answer 404 for RunNotFound/HookNotFound raised in the app's routes."""
    router = app.router
    user_lifespan = router.lifespan_context

    @contextlib.asynccontextmanager
    async def lifespan(app: Any) -> AsyncIterator[Any]:
        # Started first and stopped last: the app's own lifespan may use wdk.
        await get_runtime()
        try:
            async with user_lifespan(app) as state:
                yield state
        finally:
            await shutdown_runtime()

    router.lifespan_context = lifespan
    for kind in NOT_FOUND:
        app.add_exception_handler(kind, _not_found)
    router.routes.append(Route(WEBHOOK_PATH + "{token}", webhook, methods=list(WEBHOOK_METHODS)))
    router.routes.append(Route(STREAM_ROUTE, stream, methods=["GET"]))
    router.routes.append(Route(HEALTH_PATH, health, methods=["GET"]))


def _response(reply: Reply) -> Response:
    return Response(reply.body, reply.status, reply.headers)


async def _not_found(request: Request, exc: Exception) -> Response:
    return _response(not_found(exc))


async def webhook(request: Request) -> Response:
    client = request.client.host if request.client else None
    limit = webhook_limit()
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        return _response(too_large(limit))
    body = bytearray()
    async for part in request.stream():
        body += part
        if len(body) > limit:
            return _response(too_large(limit))
    reply = await webhook_reply(
        request.path_params["token"], request.method, str(request.url), request.headers.items(), bytes(body),
        client,
    )
    return _response(reply)


async def health(request: Request) -> Response:
    return _response(await health_reply())


async def stream(request: Request) -> Response:
    opened = await open_stream(
        request.path_params["run_id"],
        accept=request.headers.get("accept", ""),
        start=request.query_params.get("start"),
        last_event_id=request.headers.get("last-event-id"),
        namespace=request.query_params.get("namespace"),
    )
    if isinstance(opened, Reply):
        return _response(opened)
    return StreamingResponse(opened.chunks, headers=opened.headers)
