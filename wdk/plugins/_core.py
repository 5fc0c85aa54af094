"""The webhook and run-stream endpoints without a framework.

Each plugin reads the request its own way, calls `webhook_reply`,
`open_stream` or `health_reply`, and writes the answer its own way. What they answer is what
`wdk serve` answers (`wdk/server/handlers.py`): 202 by default, the fixed or
computed reply, 413 over WDK_WEBHOOK_MAX_BYTES, 404 for an unknown token or
run, NDJSON or Server-Sent Events for a stream. The app's own routes that
raise RunNotFound or HookNotFound (`get_run(bad_id).status()`) answer 404 too.
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass, field

import msgspec

from wdk.errors import HookNotFound, RunNotFound
from wdk.protocol import (
    classify_error,
    clean,
    error_body,
    parse_start,
    reply_headers,
    request_headers,
    stream_headers,
    wants_sse,
)
from wdk.runtime.engine import Runtime, get_runtime
from wdk.runtime.health import check_health
from wdk.runtime.stream_index import start_and_tail
from wdk.runtime.webhooks import NoResponse, WebhookRequest, deliver
from wdk.server.ratelimit import GuessLimit
from wdk.server.stream_body import stream_body
from wdk.settings import current_settings

log = logging.getLogger("wdk.plugins")


@dataclass
class Reply:
    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Stream:
    headers: dict[str, str]
    chunks: AsyncIterator[bytes]


def error_reply(status: int, message: str, kind: str, ident: str | None = None) -> Reply:
    body = error_body(message, kind, ident)
    return Reply(status, msgspec.json.encode(body), {"content-type": "application/json"})


def webhook_limit() -> int:
    """WDK_WEBHOOK_MAX_BYTES, read at each request (as the app's settings are then)."""
    return current_settings().webhook_max_bytes


def too_large(limit: int) -> Reply:
    return error_reply(413, f"the body is larger than {limit} bytes (WDK_WEBHOOK_MAX_BYTES)", "TooLarge")


# What a user's own route may raise through wdk that means "no such thing":
# every plugin answers 404 for them, as `wdk serve` does, instead of a 500.
NOT_FOUND: tuple[type[Exception], ...] = (RunNotFound, HookNotFound)


def not_found(exc: Exception) -> Reply:
    """The 404 for a RunNotFound or HookNotFound raised in an app's route."""
    _, ident = classify_error(exc)
    kind = next((k.__name__ for k in NOT_FOUND if isinstance(exc, k)), type(exc).__name__)
    return error_reply(404, str(exc), kind, ident)


def _failure(exc: Exception) -> Reply:
    status, ident = classify_error(exc)
    message = str(exc) or type(exc).__name__
    if status >= 500:
        log.error("wdk: webhook delivery failed", exc_info=exc)
    if status == 500:
        message = "internal error (see the server log)"
    return error_reply(status, message, type(exc).__name__, ident)


# Unknown webhook tokens per client (`wdk.server.ratelimit`), one limit per runtime.
_guesses: weakref.WeakKeyDictionary[Runtime, GuessLimit] = weakref.WeakKeyDictionary()


def _guess_limit(rt: Runtime) -> GuessLimit:
    limit = _guesses.get(rt)
    if limit is None:
        limit = _guesses[rt] = GuessLimit(rt.settings.webhook_guesses)
    return limit


def _too_many(wait: float) -> Reply:
    reply = error_reply(429, "too many unknown webhook tokens from this client (WDK_WEBHOOK_GUESSES)",
                        "TooManyRequests")
    reply.headers["retry-after"] = str(max(1, round(wait)))
    return reply


async def webhook_reply(
    token: str, method: str, url: str, headers: Iterable[tuple[str, str]], body: bytes, client: str | None = None
) -> Reply:
    """Deliver one HTTP request to the webhook `token`; the reply to send back.
    `client` (the peer address) is charged a guess when the token is unknown."""
    request = WebhookRequest(clean(method), clean(url), request_headers(headers), body)
    try:
        rt = await get_runtime()
        guesses = _guess_limit(rt)
        if (wait := guesses.wait(client or "?")) is not None:
            return _too_many(wait)
        # Shielded: a client that hangs up after the hook_received append must
        # not leave the run un-enqueued.
        _, reply = await asyncio.shield(deliver(rt, token, request))
    except NoResponse as exc:
        return error_reply(502, str(exc), "NoResponse")
    except HookNotFound as exc:
        guesses.miss(client or "?")
        return _failure(exc)
    except Exception as exc:
        return _failure(exc)
    out = reply_headers(reply.headers)
    no_body = reply.status in (204, 304) or method.upper() == "HEAD"
    return Reply(reply.status, b"" if no_body else reply.body, out)


async def open_stream(
    run_id: str,
    *,
    accept: str = "",
    start: str | None = None,
    last_event_id: str | None = None,
    namespace: str | None = None,
) -> Reply | Stream:
    """A run's stream (NDJSON, or SSE when `accept` asks for it), or the error reply."""
    sse = wants_sse(accept)
    namespace = namespace or "default"
    try:
        first = parse_start(start, last_event_id, sse)
        world = (await get_runtime()).world
        if await world.get_run(run_id) is None:
            raise RunNotFound(run_id)
        first, tail = await start_and_tail(world, run_id, namespace, first)
    except Exception as exc:
        return _failure(exc)
    # The framework notices a reader that went away and closes the iterator.
    return Stream(stream_headers(sse, first, tail), stream_body(world, run_id, namespace, first, sse))


async def health_reply() -> Reply:
    """`GET .../health`: 200 with the JSON report, or 503 and the reason."""
    try:
        report = await check_health(await get_runtime())
    except Exception as exc:  # the runtime could not even start (its world is down)
        body = {"status": "unavailable", "reason": f"the runtime cannot start: {exc}"}
        return Reply(503, msgspec.json.encode(body), {"content-type": "application/json"})
    status = 200 if report.ok else 503
    return Reply(status, msgspec.json.encode(report.to_json()), {"content-type": "application/json"})



def missing(plugin: str, framework: str, extra: str) -> ImportError:
    """The error a plugin raises when its framework is not installed."""
    return ImportError(f"wdk.plugins.{plugin} needs {framework}: pip install 'wdk[{extra}]'")
