"""wdk.plugins.django with Django's test client and minimal settings."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from flows import streaming
from support import WELL_KNOWN

pytest.importorskip("django")

import django
from django.conf import settings
from django.test import Client, override_settings

if not settings.configured:
    settings.configure(
        DEBUG=False,
        SECRET_KEY="wdk-tests",
        ALLOWED_HOSTS=["testserver"],
        ROOT_URLCONF="django_urls",
        MIDDLEWARE=["django.middleware.csrf.CsrfViewMiddleware"],  # webhooks must get past it
        INSTALLED_APPS=[],
        DATABASES={},
    )
    django.setup()

import wdk.plugins.django as wdk_django
from wdk import RunNotFound


@pytest.fixture
def client() -> Iterator[Client]:
    try:
        yield Client(enforce_csrf_checks=True)
    finally:
        wdk_django.stop()


def test_a_view_starts_a_workflow_and_returns_its_result(client: Client) -> None:
    resp = client.post("/add/1")
    assert resp.status_code == 200
    assert resp.json()["result"] == 14


def test_webhook_post_through_urlpatterns_resumes_the_run(client: Client) -> None:
    started = client.post("/webhook-runs/wait_request").json()
    resp = client.post(
        f"{WELL_KNOWN}/webhook/{started['token']}",
        data=b'{"order": 7}',
        content_type="application/json",
        headers={"x-custom": "hi"},
    )
    assert resp.status_code == 202
    assert resp.content == b""
    assert client.get(f"/results/{started['run_id']}").json()["result"] == {
        "method": "POST",
        "body": {"order": 7},
        "content_type": "application/json",
        "custom": "hi",
    }


def test_webhook_fixed_reply_and_errors(client: Client, monkeypatch: pytest.MonkeyPatch) -> None:
    started = client.post("/webhook-runs/fixed_response").json()
    resp = client.put(f"{WELL_KNOWN}/webhook/{started['token']}", data=b"payload", content_type="text/plain")
    assert (resp.status_code, resp.content, resp.headers["x-reply"]) == (200, b"thanks", "fixed")
    assert client.get(f"/results/{started['run_id']}").json()["result"] == "payload"
    resp = client.post(f"{WELL_KNOWN}/webhook/wdkh_nope", data=b"x", content_type="text/plain")
    assert (resp.status_code, resp.json()["type"]) == (404, "HookNotFound")
    monkeypatch.setenv("WDK_WEBHOOK_MAX_BYTES", "16")
    started = client.post("/webhook-runs/wait_request").json()
    resp = client.post(f"{WELL_KNOWN}/webhook/{started['token']}", data=b"x" * 17, content_type="text/plain")
    assert (resp.status_code, resp.json()["type"]) == (413, "TooLarge")


def test_stream_through_urlpatterns(client: Client) -> None:
    run_id = wdk_django.start(streaming.tokens, 4, 0.01)
    url = f"{WELL_KNOWN}/runs/{run_id}/stream"
    resp = client.get(url)
    assert resp.status_code == 200
    assert resp["content-type"].startswith("application/x-ndjson")
    body = b"".join(resp.streaming_content).decode()
    assert [json.loads(line) for line in body.splitlines()] == [{"i": i} for i in range(4)]
    assert client.options(url).status_code == 405  # (a POST is stopped by CSRF first)
    assert client.get(f"{WELL_KNOWN}/runs/wrun_nope/stream").status_code == 404


def test_unknown_runs_and_hooks_are_404_without_setup(client: Client) -> None:
    # result() and resume_hook() raise errors that are also Django's Http404.
    assert client.get("/results/wrun_nope").status_code == 404
    assert client.post("/hooks/wdkh_nope").status_code == 404
    with pytest.raises(RunNotFound):
        wdk_django.result("wrun_nope")


def test_the_middleware_answers_wdks_json_404_from_any_view(client: Client) -> None:
    with override_settings(MIDDLEWARE=[*settings.MIDDLEWARE, "wdk.plugins.django.NotFoundMiddleware"]):
        for url in ("/results/wrun_nope", "/status/wrun_nope"):
            resp = client.get(url)
            assert resp.status_code == 404, url
            assert resp.json() == {"error": "no run with id 'wrun_nope'", "type": "RunNotFound", "id": "wrun_nope"}
        resp = client.post("/hooks/wdkh_nope")
        assert (resp.status_code, resp.json()["type"]) == (404, "HookNotFound")


def test_stream_negative_start_and_health(client: Client) -> None:
    run_id = wdk_django.start(streaming.tokens, 3, 0)
    assert wdk_django.result(run_id, timeout=10) == 3
    resp = client.get(f"{WELL_KNOWN}/runs/{run_id}/stream", {"start": "-1"})
    assert resp["x-wdk-stream-tail-index"] == "2"
    assert json.loads(b"".join(resp.streaming_content)) == {"i": 2}
    health = client.get(f"{WELL_KNOWN}/health")
    assert health.status_code == 200
    assert health.json()["status"] == "ok" and health.json()["queue_consumer"]["alive"] is True
