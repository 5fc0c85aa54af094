"""What both model clients share: the POST that streams server-sent events,
and what an HTTP failure means for the step that made it.

429 and 5xx (and 408, 409) are worth another attempt: a RetryableError, with
the server's Retry-After as the delay when it sends one. Any other 4xx would
fail the same way again: a FatalError. A dropped connection is an ordinary
error, retried with the step's backoff.
"""

from __future__ import annotations

import email.utils
import time
from collections.abc import AsyncIterator
from typing import Any

import msgspec

from wdk.errors import FatalError, RetryableError
from wdk.settings import secret_from_env

__all__ = ["api_key", "post_events", "retry_after_seconds"]

_RETRY_STATUSES = {408, 409, 429}
_json_encoder = msgspec.json.Encoder()


def api_key(env: str, required: bool) -> str | None:
    """The key from the environment variable `env`, read inside the step."""
    key = secret_from_env(env)
    if key is None and required:
        raise FatalError(f"set {env} to the API key (or point base_url at a server that needs none)")
    return key


def retry_after_seconds(value: str | None) -> float | None:
    """Retry-After as seconds: a number, or an HTTP date."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


async def post_events(url: str, headers: dict[str, str], body: dict[str, Any]) -> AsyncIterator[Any]:
    """POST `body` as JSON and yield each server-sent event's decoded `data`
    (up to `[DONE]`). HTTP errors become RetryableError / FatalError."""
    import aiohttp  # a dependency of wdk; imported where the step runs

    timeout = aiohttp.ClientTimeout(total=None, sock_connect=30, sock_read=300)
    async with aiohttp.ClientSession(timeout=timeout) as session, session.post(
        url, data=_json_encoder.encode(body), headers={**headers, "content-type": "application/json"}
    ) as resp:
        if resp.status >= 400:
            await _raise_for(resp)
        data: list[str] = []
        async for raw in resp.content:
            line = raw.decode("utf-8").rstrip("\r\n")
            if line.startswith("data:"):
                data.append(line[5:].removeprefix(" "))
            elif not line and data:
                payload, data = "\n".join(data), []
                if payload.strip() == "[DONE]":
                    return
                yield msgspec.json.decode(payload)
        if data and "\n".join(data).strip() != "[DONE]":
            yield msgspec.json.decode("\n".join(data))


async def _raise_for(resp: Any) -> None:
    text = (await resp.text())[:500]
    message = f"{resp.method} {resp.url} answered HTTP {resp.status}: {text}"
    if resp.status in _RETRY_STATUSES or resp.status >= 500:
        raise RetryableError(message, retry_after=retry_after_seconds(resp.headers.get("retry-after")))
    raise FatalError(message)
