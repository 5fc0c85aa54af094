"""Flask: the runtime in a background thread, sync helpers, wdk's endpoints as routes.

    from flask import Flask
    import wdk.plugins.flask as wdk_flask

    app = Flask(__name__)
    wdk_flask.setup(app)

    @app.post("/orders/<order_id>")
    def place(order_id: str) -> dict[str, str]:
        return {"run_id": wdk_flask.start(process_order, order_id)}

    @app.get("/orders/<run_id>")
    def outcome(run_id: str) -> dict[str, object]:
        return {"result": wdk_flask.result(run_id, timeout=30)}

The runtime starts on the first request (in each worker process) and stops
at exit. Webhook URLs point at WDK_BASE_URL: set it to the app's public address.
"""

from __future__ import annotations

from typing import Any

from wdk.plugins._core import NOT_FOUND, Reply, missing, not_found
from wdk.plugins._threaded import (
    background,
    read_health,
    read_stream,
    read_webhook,
    result,
    resume_hook,
    start,
    stop,
)
from wdk.protocol import HEALTH_PATH, WEBHOOK_METHODS, WEBHOOK_PATH, WELL_KNOWN

try:
    from flask import Response, request
except ImportError:  # pragma: no cover - depends on the environment
    raise missing("flask", "Flask", "flask") from None

__all__ = ["result", "resume_hook", "setup", "start", "stop"]


def setup(app: Any) -> None:
    """Mount the webhook, run-stream and health endpoints on `app` (a Flask
    app), start wdk's runtime with its first request, and answer 404 for
    RunNotFound and HookNotFound raised in the app's views."""
    app.add_url_rule(WEBHOOK_PATH + "<token>", "wdk_webhook", webhook, methods=list(WEBHOOK_METHODS))
    app.add_url_rule(WELL_KNOWN + "/runs/<run_id>/stream", "wdk_stream", stream, methods=["GET"])
    app.add_url_rule(HEALTH_PATH, "wdk_health", health, methods=["GET"])
    app.before_request(_ensure_runtime)
    for kind in NOT_FOUND:
        app.register_error_handler(kind, _not_found)


def _ensure_runtime() -> None:
    background.loop()  # so runs left from an earlier process resume without waiting for a wdk call


def _not_found(exc: Exception) -> Response:
    return _response(not_found(exc))


def _response(reply: Reply) -> Response:
    resp = Response(reply.body, reply.status, reply.headers)
    if "content-type" not in reply.headers:
        del resp.headers["content-type"]  # Flask's default text/html would be a lie
    return resp


def webhook(token: str) -> Response:
    reply = read_webhook(
        token, request.method, request.url, request.headers.items(), request.content_length, request.stream.read,
        request.remote_addr,
    )
    return _response(reply)


def health() -> Response:
    return _response(read_health())


def stream(run_id: str) -> Response:
    opened = read_stream(
        run_id,
        accept=request.headers.get("accept", ""),
        start=request.args.get("start"),
        last_event_id=request.headers.get("last-event-id"),
        namespace=request.args.get("namespace"),
    )
    if isinstance(opened, Reply):
        return _response(opened)
    headers, chunks = opened
    return Response(chunks, 200, headers)
