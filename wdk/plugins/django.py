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
An unknown run id or hook token is a 404: `result` and `resume_hook` raise
errors that are also Django's Http404, and `NotFoundMiddleware` answers
wdk's JSON 404 for them from any view.
"""

from __future__ import annotations

from typing import Any

from wdk.errors import HookNotFound, RunNotFound
from wdk.plugins import _threaded
from wdk.plugins._core import NOT_FOUND, Reply, missing, not_found
from wdk.plugins._threaded import read_health, read_stream, read_webhook, start, stop
from wdk.protocol import WELL_KNOWN

try:
    from django.http import Http404, HttpResponse, StreamingHttpResponse
    from django.urls import path
    from django.views.decorators.csrf import csrf_exempt
    from django.views.decorators.http import require_GET
except ImportError:  # pragma: no cover - depends on the environment
    raise missing("django", "Django", "django") from None

__all__ = [
    "HookNotFound404",
    "NotFoundMiddleware",
    "RunNotFound404",
    "result",
    "resume_hook",
    "start",
    "stop",
    "urlpatterns",
]

_PREFIX = WELL_KNOWN.lstrip("/")


def _response(reply: Reply) -> Any:
    resp = HttpResponse(reply.body, status=reply.status, headers=reply.headers)
    if "content-type" not in reply.headers:
        del resp.headers["content-type"]  # Django's default text/html would be a lie
    return resp


class RunNotFound404(RunNotFound, Http404):  # type: ignore[misc]  # django is untyped here
    """RunNotFound that Django answers with a 404: a view need not catch it."""


class HookNotFound404(HookNotFound, Http404):  # type: ignore[misc]
    """HookNotFound that Django answers with a 404."""


def result(run_id: str, timeout: float | None = None) -> Any:
    """Wait for the run to end and return its result (as `Run.result`); an
    unknown id raises RunNotFound404 (a RunNotFound and an Http404)."""
    try:
        return _threaded.result(run_id, timeout)
    except RunNotFound as exc:
        raise RunNotFound404(exc.run_id) from None


def resume_hook(token: str, payload: Any) -> str:
    """Send `payload` to the hook `token`; the run's id. An unknown token raises
    HookNotFound404 (a HookNotFound and an Http404)."""
    try:
        return _threaded.resume_hook(token, payload)
    except HookNotFound as exc:
        raise HookNotFound404(exc.token) from None


class NotFoundMiddleware:
    """Optional: answers RunNotFound/HookNotFound from any view (also one that
    calls `wdk.api` itself) with wdk's JSON 404, as `wdk serve` does.

        MIDDLEWARE = [..., "wdk.plugins.django.NotFoundMiddleware"]
    """

    def __init__(self, get_response: Any) -> None:
        self.get_response = get_response

    def __call__(self, request: Any) -> Any:
        return self.get_response(request)

    def process_exception(self, request: Any, exc: Exception) -> Any:
        return _response(not_found(exc)) if isinstance(exc, NOT_FOUND) else None


def webhook(request: Any, token: str) -> Any:
    length = request.META.get("CONTENT_LENGTH") or ""
    reply = read_webhook(
        token,
        request.method,
        request.build_absolute_uri(),
        request.headers.items(),
        int(length) if length.isdigit() else None,
        request.read,
        request.META.get("REMOTE_ADDR"),
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
