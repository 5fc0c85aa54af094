"""Django (WSGI): the runtime in a background thread, sync helpers, wdk's endpoints as URLs.

    # urls.py
    from django.urls import include, path
    import wdk.plugins.django

    def health(request: Any) -> Any:
    return _response(read_health())


urlpatterns = [
        path("orders/", views.place),
        path("", include(wdk.plugins.django.urlpatterns)),
    ]

    # views.py
    import wdk.plugins.django as wdk_django

    def place(request):
        return JsonResponse({"run_id": wdk_django.start(process_order, request.GET["id"])})

The runtime starts on first use (in each worker process) and stops at exit.
Webhook URLs point at WDK_BASE_URL: set it to the site's public address.
"""

from __future__ import annotations

from typing import Any

from wdk.plugins._core import Reply
from wdk.plugins._threaded import (
    read_health,
    read_stream,
    read_webhook,
    result,
    resume_hook,
    start,
    stop,
)
from wdk.server.app import WELL_KNOWN

try:
    from django.http import HttpResponse, StreamingHttpResponse
    from django.urls import path
    from django.views.decorators.csrf import csrf_exempt
    from django.views.decorators.http import require_GET
except ImportError:  # pragma: no cover - depends on the environment
    from wdk.plugins._core import missing

    raise missing("django", "Django", "django") from None

__all__ = ["result", "resume_hook", "start", "stop", "urlpatterns"]

_PREFIX = WELL_KNOWN.lstrip("/")


def _response(reply: Reply) -> Any:
    resp = HttpResponse(reply.body, status=reply.status, headers=reply.headers)
    if "content-type" not in reply.headers:
        del resp.headers["content-type"]  # Django's default text/html would be a lie
    return resp


def webhook(request: Any, token: str) -> Any:
    length = request.META.get("CONTENT_LENGTH") or ""
    reply = read_webhook(
        token,
        request.method,
        request.build_absolute_uri(),
        request.headers.items(),
        int(length) if length.isdigit() else None,
        request.read,
    )
    return _response(reply)


def stream(request: Any, run_id: str) -> Any:
    opened = read_stream(
        run_id,
        accept=request.headers.get("accept", ""),
        start=request.GET.get("start"),
        last_event_id=request.headers.get("last-event-id"),
        namespace=request.GET.get("namespace"),
    )
    if isinstance(opened, Reply):
        return _response(opened)
    headers, chunks = opened
    return StreamingHttpResponse(chunks, headers=headers)


def health(request: Any) -> Any:
    return _response(read_health())


urlpatterns = [
    # Webhooks come from other sites: no CSRF token.
    path(_PREFIX + "/webhook/<str:token>", csrf_exempt(webhook), name="wdk-webhook"),
    path(_PREFIX + "/runs/<str:run_id>/stream", require_GET(stream), name="wdk-stream"),
    path(_PREFIX + "/health", require_GET(health), name="wdk-health"),
]
