"""The URLconf of the Django tests: an app's views plus wdk's urlpatterns."""

from __future__ import annotations

from typing import Any

from django.http import JsonResponse
from django.urls import include, path
from django.views.decorators.csrf import csrf_exempt
from flows import basic, webhooks
from support import hook_token

import wdk.plugins.django as wdk_django
from wdk.api import get_run
from wdk.plugins._threaded import background


def run_basic(request: Any, x: int) -> JsonResponse:
    run_id = wdk_django.start(basic.three_steps, x)
    return JsonResponse({"run_id": run_id, "result": wdk_django.result(run_id, timeout=10)})


def webhook_run(request: Any, name: str) -> JsonResponse:
    run_id = wdk_django.start(getattr(webhooks, name))
    return JsonResponse({"run_id": run_id, "token": background.run(hook_token(get_run(run_id)))})


def result(request: Any, run_id: str) -> JsonResponse:
    return JsonResponse({"result": wdk_django.result(run_id, timeout=10)})


def status(request: Any, run_id: str) -> JsonResponse:
    return JsonResponse({"status": background.run(get_run(run_id).status())})


def resume(request: Any, token: str) -> JsonResponse:
    return JsonResponse({"run_id": wdk_django.resume_hook(token, 1)})


urlpatterns = [
    # The test's own POST views skip CSRF; wdk's webhook route must skip it by itself.
    path("add/<int:x>", csrf_exempt(run_basic)),
    path("webhook-runs/<str:name>", csrf_exempt(webhook_run)),
    path("results/<str:run_id>", result),
    path("status/<str:run_id>", status),
    path("hooks/<str:token>", csrf_exempt(resume)),
    path("", include(wdk_django.urlpatterns)),
]
