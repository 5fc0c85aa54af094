"""wdk's HTTP protocol, without an HTTP server: what `wdk serve`, every
framework plugin and the HTTP client (`wdk.client.http`) agree on.

    WEBHOOK_PATH + token                 # /.well-known/workflow/v1/webhook/<token>
    status, ident = classify_error(exc)  # a server: the status an error answers
    raise error_from(status, body)       # a client: the same exception again

Routes, the JSON error body and its mapping to exceptions (both ways), the
headers of a stream response and of a webhook request. No framework is
imported here: a Flask app uses this module without loading aiohttp's server.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import quote

import msgspec

from wdk.errors import (
    CompileError,
    HookNotFound,
    RunNotFound,
    SerializationError,
    WdkError,
    WorkflowNotFound,
    WorkflowSandboxError,
    WorldError,
)

__all__ = [
    "API_MAX_BYTES",
    "CONTROL_PREFIX",
    "DEFAULT_WEBHOOK_MAX_BYTES",
    "EVENT_STREAM",
    "FLOW_PATH",
    "HEALTH_PATH",
    "HOP_BY_HOP",
    "NDJSON",
    "NDJSON_GAP",
    "NDJSON_ROLLBACK",
    "START_HEADER",
    "STEP_PATH",
    "STREAM_ROUTE",
    "TAIL_HEADER",
    "WEBHOOK_METHODS",
    "WEBHOOK_PATH",
    "WELL_KNOWN",
    "BadRequest",
    "NotFound",
    "ServerError",
    "classify_error",
    "clean",
    "control_line",
    "error_body",
    "error_from",
    "parse_start",
    "quoted",
    "reply_headers",
    "request_headers",
    "stream_headers",
    "stream_path",
    "wants_sse",
]

# --- routes ---------------------------------------------------------------------------

WELL_KNOWN = "/.well-known/workflow/v1"
FLOW_PATH = WELL_KNOWN + "/flow"
STEP_PATH = WELL_KNOWN + "/step"
WEBHOOK_PATH = WELL_KNOWN + "/webhook/"  # + token
HEALTH_PATH = WELL_KNOWN + "/health"
STREAM_ROUTE = WELL_KNOWN + "/runs/{run_id}/stream"  # a route pattern, as aiohttp and starlette write it
WEBHOOK_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")

DEFAULT_WEBHOOK_MAX_BYTES = 1 << 20  # WDK_WEBHOOK_MAX_BYTES
API_MAX_BYTES = 8 << 20


def quoted(part: str) -> str:
    """One path segment (a run id, a token), escaped."""
    return quote(part, safe="")


def stream_path(run_id: str) -> str:
    return f"{WELL_KNOWN}/runs/{quoted(run_id)}/stream"


# --- errors: `{"error": message, "type": name, "id"?: ...}` ----------------------------------


class BadRequest(Exception):
    """The client sent something malformed: 400 with this message."""


class NotFound(LookupError):
    """A 404 for something other than a run or a hook (a step, a workflow)."""


def clean(text: str) -> str:
    """Text as valid UTF-8 (undecodable bytes from the wire become U+FFFD)."""
    return text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


def error_body(message: str, kind: str, ident: str | None = None) -> dict[str, str]:
    body = {"error": clean(message), "type": kind}
    if ident is not None:
        body["id"] = clean(ident)
    return body


def classify_error(exc: Exception) -> tuple[int, str | None]:
    """(status, id) for an exception escaping a handler: a client's mistake is
    4xx, a store that is down 503, anything else 500 (a bug in wdk)."""
    if isinstance(exc, RunNotFound):
        return 404, exc.run_id
    if isinstance(exc, HookNotFound):
        return 404, exc.token
    if isinstance(exc, NotFound | WorkflowNotFound):
        return 404, None
    if isinstance(exc, CompileError | WorkflowSandboxError):
        return 422, None
    if isinstance(exc, BadRequest | msgspec.DecodeError | msgspec.ValidationError | SerializationError):
        return 400, None
    if isinstance(exc, ValueError | UnicodeError | RecursionError):  # e.g. a typed hook's payload validation
        return 400, None
    if isinstance(exc, TimeoutError):
        return 504, None
    if isinstance(exc, WorldError):
        return 503, None
    return 500, None


class ServerError(WdkError):
    """The server refused a request (the message is its error text)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"HTTP {status}: {message}")
        self.status = status
        self.message = message


def error_from(status: int, raw: bytes) -> Exception:
    """The exception a client raises for an error response: the one the
    server's handler raised where the type says which (RunNotFound, a
    TypeError for arguments that do not fit...), else ServerError."""
    try:
        info = json.loads(raw)
        message, kind, ident = str(info.get("error", "")), str(info.get("type", "")), str(info.get("id", ""))
    except (ValueError, AttributeError):
        message, kind, ident = raw.decode(errors="replace")[:500], "", ""
    if status == 404 and kind == "RunNotFound":
        return RunNotFound(ident)
    if status == 404 and kind == "HookNotFound":
        return HookNotFound(ident)
    if status == 400 and kind == "ValueError":
        return ValueError(message)
    if status == 400 and kind == "TypeError":  # arguments that do not fit the workflow
        return TypeError(message)
    return ServerError(status, message or f"HTTP {status}")


# --- headers ------------------------------------------------------------------------------

# Hop-by-hop headers: the server (or the framework) sets them, a workflow's reply does not.
HOP_BY_HOP = frozenset({"content-length", "transfer-encoding", "connection", "keep-alive", "upgrade", "trailer"})


def request_headers(pairs: Iterable[tuple[str, str]]) -> dict[str, str]:
    """A webhook request's headers as a workflow sees them: names lower-cased,
    repeated headers joined with ", ", undecodable bytes replaced."""
    merged: dict[str, str] = {}
    for name, value in pairs:
        key = clean(name).lower()
        merged[key] = f"{merged[key]}, {clean(value)}" if key in merged else clean(value)
    return merged


def reply_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """A workflow's webhook reply headers, without the hop-by-hop ones."""
    return {k: v for k, v in headers.items() if k.lower() not in HOP_BY_HOP}


# --- a run's stream over HTTP (see wdk.server.stream_body for the body) --------------------

NDJSON = "application/x-ndjson"
EVENT_STREAM = "text/event-stream"
TAIL_HEADER = "x-wdk-stream-tail-index"
START_HEADER = "x-wdk-stream-start"

# NDJSON control lines (a chunk's value can never look like these: serde
# writes a user dict with a "$wdk" key in its tagged form):
#   {"$wdk": "rollback", "index": 7, "ranges": [[0, 3]]}   a StreamRollback
#   {"$wdk": "gap", "next": 8}     indexes before 8 you did not get were skipped
#                                  (rolled back): the next line is at index 8
CONTROL_PREFIX = b'{"$wdk":"'
NDJSON_ROLLBACK = "rollback"
NDJSON_GAP = "gap"


def wants_sse(accept: str) -> bool:
    return EVENT_STREAM in accept


def stream_headers(sse: bool, start: int, tail: int | None = None) -> dict[str, str]:
    headers = {
        "content-type": (EVENT_STREAM if sse else NDJSON) + "; charset=utf-8",
        "cache-control": "no-cache",
        "x-accel-buffering": "no",  # proxies: do not hold chunks back
        START_HEADER: str(start),
    }
    if tail is not None:
        # The last chunk's index when the response started (-1: none yet).
        headers[TAIL_HEADER] = str(tail)
    return headers


def parse_start(start: str | None, last_event_id: str | None, sse: bool) -> int:
    """`?start=` (default 0; negative counts from the end, resolved by the
    caller with wdk.runtime.stream_index), or one past SSE's `Last-Event-ID`."""
    raw = start or "0"
    last = last_event_id if sse else None
    try:
        value = int(last) + 1 if last else int(raw)
    except ValueError:
        raise BadRequest(f"start must be an integer, not {raw!r}") from None
    if not -(2**62) <= value <= 2**62:
        raise BadRequest(f"start must be between -2**62 and 2**62, not {value}")
    return value


def control_line(line: bytes) -> dict[str, Any] | None:
    """The control object of an NDJSON line that is one (gap, rollback), else None."""
    if not line.startswith(CONTROL_PREFIX):
        return None
    control = json.loads(line)
    return control if control.get("$wdk") in (NDJSON_GAP, NDJSON_ROLLBACK) else None
