"""Webhooks: a hook with a URL. The workflow waits for an HTTP request.

    webhook = create_webhook()
    await send_callback_url(webhook.url)    # a step hands the URL to a third party
    request = await webhook                 # method, url, headers, body, .json(), .text()

The HTTP reply is 202 by default; a fixed one is given at creation
(`create_webhook(response=WebhookResponse(200, "ok"))`); or, with
`create_webhook(respond_with=True)`, the workflow computes it:

    request = await webhook
    await request.respond_with(status=200, body={"accepted": True})

`respond_with` is a step that writes the response to a stream of the run
(`webhook-response:<hook correlation id>:<request id>`); the HTTP handler
that delivered the request follows that stream and answers with its chunk.
"""

from __future__ import annotations

import asyncio
import base64
import json as _json
import os
import re
import time
from collections.abc import AsyncIterator, Generator, Mapping
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from wdk.errors import FatalError, HookNotFound
from wdk.protocol import WEBHOOK_PATH
from wdk.runtime import serde
from wdk.runtime.compiled import step_call
from wdk.runtime.current import current_step, in_workflow, step_world
from wdk.runtime.hooks import Hook, create_hook
from wdk.runtime.streams import Writable
from wdk.settings import current_settings
from wdk.worlds.base import TERMINAL_STATUSES, World

if TYPE_CHECKING:
    from wdk.runtime.engine import Runtime

RESPOND_STEP = "step//wdk.runtime.webhooks//respond"
RESPONSE_PREFIX = "webhook-response:"
DEFAULT_STATUS = 202


def webhook_url(token: str) -> str:
    """The webhook's URL: `base_url` (WDK_BASE_URL, or what `wdk serve` listens
    on) as it is configured when the webhook is made."""
    return current_settings().base_url.rstrip("/") + WEBHOOK_PATH + token


def _body_bytes(body: Any, headers: dict[str, str]) -> bytes:
    """str -> UTF-8, bytes as they are, anything else -> JSON (and its content type)."""
    if body is None:
        return b""
    if isinstance(body, bytes | bytearray | memoryview):
        return bytes(body)
    if isinstance(body, str):
        headers.setdefault("content-type", "text/plain; charset=utf-8")
        return body.encode()
    headers.setdefault("content-type", "application/json")
    return _json.dumps(body, separators=(",", ":")).encode()


@dataclass(frozen=True)
class WebhookResponse:
    """The HTTP reply to a webhook request."""

    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)

    @classmethod
    def make(cls, status: int = 200, body: Any = b"", headers: Mapping[str, str] | None = None) -> WebhookResponse:
        """Build from a str, bytes or JSON-able body; header names are lower-cased."""
        if not isinstance(status, int) or isinstance(status, bool) or not 200 <= status <= 599:
            raise ValueError(f"a webhook response status must be an int in 200..599, not {status!r}")
        hdrs = {str(k).lower(): str(v) for k, v in (headers or {}).items()}
        return cls(status, _body_bytes(body, hdrs), hdrs)

    def text(self) -> str:
        return self.body.decode("utf-8", errors="replace")

    def json(self) -> Any:
        return _json.loads(self.body)

    def to_json(self) -> dict[str, Any]:
        """Plain JSON, for the hook's metadata."""
        return {"status": self.status, "headers": dict(self.headers), "body": base64.b64encode(self.body).decode()}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> WebhookResponse:
        return cls(int(data["status"]), base64.b64decode(data.get("body") or ""), dict(data.get("headers") or {}))


@dataclass(frozen=True)
class WebhookRequest:
    """An HTTP request received by a webhook. Header names are lower-cased."""

    method: str = "POST"
    url: str = ""
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    # Set by the delivering handler for `respond_with` webhooks: where the
    # response goes (run id, stream namespace).
    run_id: str = ""
    response_stream: str | None = None

    @classmethod
    def make(
        cls,
        method: str = "POST",
        url: str = "",
        headers: Mapping[str, str] | None = None,
        body: Any = b"",
    ) -> WebhookRequest:
        hdrs = {str(k).lower(): str(v) for k, v in (headers or {}).items()}
        return cls(method.upper(), url, hdrs, _body_bytes(body, hdrs))

    def text(self) -> str:
        return self.body.decode("utf-8", errors="replace")

    def json(self) -> Any:
        """The body parsed as JSON (ValueError if it is not)."""
        return _json.loads(self.body)

    async def respond_with(self, status: int = 200, body: Any = b"", headers: Mapping[str, str] | None = None) -> None:
        """Answer the HTTP request that delivered this one (webhooks created with
        `respond_with=True`). In a workflow this is a durable step."""
        if self.response_stream is None:
            raise RuntimeError(
                "respond_with() needs a webhook created with create_webhook(respond_with=True) "
                "and a request delivered to it"
            )
        response = WebhookResponse.make(status, body, headers)
        if in_workflow():
            await step_call(RESPOND_STEP, (self.run_id, self.response_stream, response), {})
        else:
            await respond(self.run_id, self.response_stream, response)


async def respond(run_id: str, namespace: str, response: WebhookResponse) -> None:
    """The step behind `respond_with`: one chunk, then close. A retried attempt
    finds the stream closed and is done; a second answer is refused."""
    world = step_world()
    if world is None:
        raise RuntimeError("respond_with() needs a running wdk runtime")
    _, closed = await world.stream_read(run_id, namespace, 0, 1)
    if closed:
        meta = current_step()
        if meta is not None and meta.attempt > 1:
            return
        raise FatalError("this webhook request was already answered")
    out = Writable(run_id, namespace)
    await out.write(response)
    await out.close()


class Webhook:
    """The workflow side of a webhook: `.url`, `.token`; await it for a request."""

    def __init__(self, hook: Hook[WebhookRequest], url: str) -> None:
        self._hook = hook
        self.token = hook.token
        self.url = url

    def __repr__(self) -> str:
        return f"Webhook(url={self.url!r})"

    def __await__(self) -> Generator[Any, None, WebhookRequest]:
        return self._hook.__await__()

    def __aiter__(self) -> AsyncIterator[WebhookRequest]:
        return self._hook.__aiter__()

    def dispose(self) -> None:
        """Stop taking requests (see `Hook.dispose`): its URL answers 404 again."""
        self._hook.dispose()


# A caller-chosen token is a path segment of the URL: unreserved characters only.
_TOKEN = re.compile(r"[A-Za-z0-9._~-]{1,200}")


def create_webhook(
    *,
    token: str | None = None,
    response: WebhookResponse | Mapping[str, Any] | None = None,
    respond_with: bool = False,
) -> Webhook:
    """A hook reachable at `<WDK_BASE_URL>/.well-known/workflow/v1/webhook/<token>`.

        webhook = create_webhook(response={"status": 200, "body": "thanks"})
        request = await webhook

    `token` picks the URL's last segment (letters, digits, `.`, `_`, `~`, `-`);
    anyone who knows it can post, so make it hard to guess when that matters.
    A token held by another live hook is refused: awaiting the webhook raises
    HookConflict. Without `token`, one with 128 random bits is made.
    """
    if token is not None and (not isinstance(token, str) or not _TOKEN.fullmatch(token)):
        raise ValueError(
            f"a webhook token is part of its URL: 1 to 200 letters, digits, '.', '_', '~' "
            f"or '-', not {token!r}"
        )
    if response is not None and respond_with:
        raise ValueError("create_webhook(): give a fixed `response` or `respond_with=True`, not both")
    fixed: WebhookResponse | None = None
    if isinstance(response, Mapping):
        fixed = WebhookResponse.make(**dict(response))
    elif response is not None:
        if not isinstance(response, WebhookResponse):
            raise TypeError(f"response must be a WebhookResponse or a dict, not {type(response).__name__}")
        fixed = response
    spec = {"respond_with": bool(respond_with), "response": fixed.to_json() if fixed else None}
    hook: Hook[WebhookRequest] = create_hook(token, metadata={"webhook": spec})
    return Webhook(hook, webhook_url(hook.token))


# --- delivery (the HTTP handler and resume_webhook) -------------------------------------


async def deliver(
    rt: Runtime, token: str, request: WebhookRequest, *, timeout: float | None = None
) -> tuple[str, WebhookResponse]:
    """Hand `request` to the live webhook `token` through `rt`; (run id, the HTTP reply).

    Raises HookNotFound for an unknown token or a plain (non-web) hook, and
    TimeoutError when a `respond_with` workflow does not answer in time.
    """
    hook = await rt.world.get_hook(token)
    spec = hook.metadata.get("webhook") if hook is not None and isinstance(hook.metadata, dict) else None
    if hook is None or not isinstance(spec, dict):
        raise HookNotFound(token)
    namespace = None
    if spec.get("respond_with"):
        namespace = f"{RESPONSE_PREFIX}{hook.correlation_id}:{os.urandom(8).hex()}"
        request = replace(request, run_id=hook.run_id, response_stream=namespace)
    else:
        request = replace(request, run_id="", response_stream=None)
    run_id = await rt.resume_hook(token, request)
    if namespace is not None:
        wait = timeout or rt.settings.webhook_response_timeout
        return run_id, await _await_response(rt.world, run_id, namespace, wait)
    fixed = spec.get("response")
    if isinstance(fixed, dict):
        return run_id, WebhookResponse.from_json(fixed)
    return run_id, WebhookResponse(DEFAULT_STATUS)


class NoResponse(Exception):
    """The run ended without answering a `respond_with` request."""


async def _await_response(world: World, run_id: str, namespace: str, timeout: float) -> WebhookResponse:
    async def first() -> Any:
        async for chunk in world.stream_follow(run_id, namespace):
            if chunk.rollback is None:  # a rollback marker answers nothing
                return serde.loads(chunk.data)
        return None

    task = asyncio.ensure_future(first())
    deadline = time.monotonic() + timeout
    try:
        while True:
            done, _ = await asyncio.wait({task}, timeout=min(0.25, max(0.0, deadline - time.monotonic())))
            if done:
                value = task.result()
                if isinstance(value, WebhookResponse):
                    return value
                raise NoResponse("the workflow closed the response without answering")
            run = await world.get_run(run_id)
            if run is None or run.status in TERMINAL_STATUSES:
                chunks, _ = await world.stream_read(run_id, namespace, 0, 2)
                for chunk in chunks:
                    value = serde.loads(chunk.data) if chunk.rollback is None else None
                    if isinstance(value, WebhookResponse):
                        return value
                raise NoResponse(f"run {run_id} ended without answering the request")
            if time.monotonic() >= deadline:
                raise TimeoutError(f"the workflow did not answer within {timeout:g} s")
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


serde.register_type(
    WebhookRequest,
    lambda r: [r.method, r.url, r.headers, r.body, r.run_id, r.response_stream],
    lambda v: WebhookRequest(*v),
    name="wdk.WebhookRequest",
)
serde.register_type(
    WebhookResponse,
    lambda r: [r.status, r.body, r.headers],
    lambda v: WebhookResponse(*v),
    name="wdk.WebhookResponse",
)
