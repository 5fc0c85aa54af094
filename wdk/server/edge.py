"""What every aiohttp handler of `wdk serve` shares: the app's keys, JSON
responses, and the error edge that turns any exception into one.

Every error is caught at the edge: a client's mistake is a 4xx with a JSON
body `{"error": message, "type": name}` (`wdk.protocol.classify_error`); a
store that is down is 503; only a bug in wdk itself can give 500 (and is logged).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import msgspec
from aiohttp import web

from wdk.protocol import classify_error, error_body
from wdk.runtime.engine import Runtime
from wdk.server.signing import Verifier

log = logging.getLogger("wdk.server")

RUNTIME: web.AppKey[Runtime] = web.AppKey("runtime", Runtime)
SECRET: web.AppKey[str] = web.AppKey("secret", str)
VERIFIER: web.AppKey[Verifier] = web.AppKey("verifier", Verifier)
WEBHOOK_MAX_BYTES: web.AppKey[int] = web.AppKey("webhook_max_bytes", int)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def json_response(value: Any, status: int = 200) -> web.Response:
    return web.Response(body=msgspec.json.encode(value), status=status, content_type="application/json")


def error_response(status: int, message: str, kind: str, ident: str | None = None) -> web.Response:
    return json_response(error_body(message, kind, ident), status=status)


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
