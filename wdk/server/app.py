"""The aiohttp application: routes, the error edge, and starting a server.

    server = await start_server(port=0)          # 127.0.0.1, a free port
    print(server.url)                             # http://127.0.0.1:54321
    await server.close()

Every error is caught at the edge: a client's mistake is a 4xx with a JSON
body `{"error": message, "type": name}`; a store that is down is 503; only a
bug in wdk itself can give 500 (and is logged).
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import msgspec
from aiohttp import web

from wdk.errors import (
    CompileError,
    HookNotFound,
    RunNotFound,
    SerializationError,
    WorkflowSandboxError,
    WorldError,
)
from wdk.runtime.runtime import Runtime

log = logging.getLogger("wdk.server")

WELL_KNOWN = "/.well-known/workflow/v1"
RUNTIME: web.AppKey[Runtime] = web.AppKey("runtime", Runtime)
SECRET: web.AppKey[str] = web.AppKey("secret", str)
WEBHOOK_MAX_BYTES: web.AppKey[int] = web.AppKey("webhook_max_bytes", int)
DEFAULT_WEBHOOK_MAX_BYTES = 1 << 20
API_MAX_BYTES = 8 << 20

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class BadRequest(Exception):
    """The client sent something malformed: 400 with this message."""


class NotFound(LookupError):
    """A 404 for something other than a run or a hook (a step, a workflow)."""


def clean(text: str) -> str:
    """Text as valid UTF-8 (undecodable bytes from the wire become U+FFFD)."""
    return text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


def error_response(status: int, message: str, kind: str, ident: str | None = None) -> web.Response:
    body: dict[str, Any] = {"error": clean(message), "type": kind}
    if ident is not None:
        body["id"] = clean(ident)
    return json_response(body, status=status)


async def expect_handler(request: web.Request) -> web.StreamResponse | None:
    """`Expect: 100-continue` as aiohttp does; any other value is 417. (aiohttp's
    default answers 500 to an Expect value that is not valid UTF-8.)"""
    if request.version != (1, 1):
        return None
    expect = request.headers.get("expect", "")
    if expect.lower() == "100-continue":
        await request.writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        request.writer.output_size = 0  # the real response has not started
        return None
    return error_response(417, f"unknown Expect: {expect!r}", "ExpectationFailed")


async def fallback(request: web.Request) -> web.StreamResponse:
    """Every unmatched path or method: 404 or 405, in JSON (and past our expect handler)."""
    allowed: set[str] = set()
    for resource in request.app.router.resources():
        if resource is request.match_info.route.resource:
            continue
        _, methods = await resource.resolve(request)
        allowed |= methods
    if allowed:
        resp = error_response(405, f"method {request.method!r} is not allowed here", "MethodNotAllowed")
        resp.headers["allow"] = ", ".join(sorted(allowed))
        return resp
    return error_response(404, "no such endpoint", "NotFound")


def json_response(value: Any, status: int = 200) -> web.Response:
    return web.Response(body=msgspec.json.encode(value), status=status, content_type="application/json")


def classify_error(exc: Exception) -> tuple[int, str | None]:
    """(status, id) for an exception escaping a handler."""
    if isinstance(exc, RunNotFound):
        return 404, exc.run_id
    if isinstance(exc, HookNotFound):
        return 404, exc.token
    from wdk.runtime.loader import WorkflowNotFound

    if isinstance(exc, NotFound | WorkflowNotFound):
        return 404, None
    if isinstance(exc, CompileError | WorkflowSandboxError):
        return 422, None
    if isinstance(exc, BadRequest | msgspec.DecodeError | msgspec.ValidationError | SerializationError):
        return 400, None
    if isinstance(exc, ValueError | UnicodeError):  # e.g. a typed hook's payload validation
        return 400, None
    if isinstance(exc, TimeoutError):
        return 504, None
    if isinstance(exc, WorldError):
        return 503, None
    return 500, None


@web.middleware
async def error_edge(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except web.HTTPException:
        raise  # aiohttp's own answers: 404 route, 405, 413 from read()
    except asyncio.CancelledError:
        raise
    except Exception as exc:
        status, ident = classify_error(exc)
        if status >= 500:
            log.exception("wdk server: %s %s failed", request.method, request.rel_url)
        message = str(exc) or type(exc).__name__
        if status == 500:
            message = "internal error (see the server log)"
        return error_response(status, message, type(exc).__name__, ident)


def create_app(*, secret: str | None = None, webhook_max_bytes: int | None = None) -> web.Application:
    """The wdk application. It serves with the loop's runtime (`get_runtime()`,
    started with the app), which also works the queue."""
    from wdk.server import handlers, jsonapi
    from wdk.server.signing import load_secret

    app = web.Application(middlewares=[error_edge], client_max_size=API_MAX_BYTES)
    app[SECRET] = secret or load_secret()[0]
    limit = webhook_max_bytes or int(os.environ.get("WDK_WEBHOOK_MAX_BYTES", DEFAULT_WEBHOOK_MAX_BYTES))
    app[WEBHOOK_MAX_BYTES] = limit

    async def on_startup(app: web.Application) -> None:
        from wdk.runtime.runtime import get_runtime

        app[RUNTIME] = await get_runtime()

    app.on_startup.append(on_startup)
    handlers.add_routes(app)
    jsonapi.add_routes(app)
    app.router.add_route("*", "/{tail:.*}", fallback, expect_handler=expect_handler)
    return app


@dataclass
class Server:
    runner: web.AppRunner
    url: str
    host: str
    port: int

    async def close(self) -> None:
        await self.runner.cleanup()


async def start_server(
    host: str = "127.0.0.1",
    port: int = 0,
    *,
    app: web.Application | None = None,
    **options: Any,
) -> Server:
    """Serve `app` (default `create_app(**options)`) on host:port (0: a free port)."""
    runner = web.AppRunner(
        app or create_app(**options),
        access_log=None,
        # A client that goes away cancels its handler: a stream follower must
        # not outlive its reader.
        handler_cancellation=True,
        shutdown_timeout=1.0,
    )
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    bound = runner.addresses[0]
    real_port = int(bound[1])
    shown = f"[{host}]" if ":" in host else host
    return Server(runner, f"http://{shown}:{real_port}", host, real_port)
