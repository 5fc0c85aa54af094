"""wdk.plugins.flask with Flask's test client: the runtime in a background thread."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from flows import basic, streaming, webhooks
from support import WELL_KNOWN, hook_token

pytest.importorskip("flask")

from flask import Flask
from flask.testing import FlaskClient

import wdk.plugins.flask as wdk_flask
from wdk.api import get_run
from wdk.plugins._threaded import background


def make_app() -> Flask:
    app = Flask(__name__)
    wdk_flask.setup(app)

    @app.post("/add/<int:x>")
    def run_basic(x: int) -> dict[str, object]:
        run_id = wdk_flask.start(basic.three_steps, x)
        return {"run_id": run_id, "result": wdk_flask.result(run_id, timeout=10)}

    @app.post("/webhook-runs/<name>")
    def webhook_run(name: str) -> dict[str, str]:
        run_id = wdk_flask.start(getattr(webhooks, name))
        return {"run_id": run_id, "token": background.run(hook_token(get_run(run_id)))}

    @app.get("/results/<run_id>")
    def result(run_id: str) -> dict[str, object]:
        return {"result": wdk_flask.result(run_id, timeout=10)}

    @app.get("/status/<run_id>")
    def status(run_id: str) -> dict[str, object]:
        return {"status": background.run(get_run(run_id).status())}

    @app.post("/hooks/<token>")
    def resume(token: str) -> dict[str, object]:
        return {"run_id": wdk_flask.resume_hook(token, 1)}

    return app


@pytest.fixture
def client() -> Iterator[FlaskClient]:
    try:
        yield make_app().test_client()
    finally:
        wdk_flask.stop()  # the next test's runtime reads its own data dir


def test_a_route_starts_a_workflow_and_returns_its_result(client: FlaskClient) -> None:
    resp = client.post("/add/1")
    assert resp.status_code == 200
    assert resp.get_json()["result"] == 14


def test_webhook_post_through_the_app_resumes_the_run(client: FlaskClient) -> None:
    started = client.post("/webhook-runs/wait_request").get_json()
    resp = client.post(f"{WELL_KNOWN}/webhook/{started['token']}", json={"order": 7}, headers={"x-custom": "hi"})
    assert resp.status_code == 202
    assert resp.data == b""
    assert "content-type" not in resp.headers
    assert client.get(f"/results/{started['run_id']}").get_json()["result"] == {
        "method": "POST",
        "body": {"order": 7},
        "content_type": "application/json",
        "custom": "hi",
    }


def test_webhook_computed_reply_and_errors(client: FlaskClient, monkeypatch: pytest.MonkeyPatch) -> None:
    started = client.post("/webhook-runs/computed_response").get_json()
    resp = client.post(f"{WELL_KNOWN}/webhook/{started['token']}", json={"n": 21})
    assert (resp.status_code, resp.get_json(), resp.headers["x-run"]) == (201, {"doubled": 42}, "yes")
    resp = client.post(f"{WELL_KNOWN}/webhook/wdkh_nope", data=b"x")
    assert (resp.status_code, resp.get_json()["type"]) == (404, "HookNotFound")
    monkeypatch.setenv("WDK_WEBHOOK_MAX_BYTES", "16")
    started = client.post("/webhook-runs/wait_request").get_json()
    resp = client.post(f"{WELL_KNOWN}/webhook/{started['token']}", data=b"x" * 17)
    assert (resp.status_code, resp.get_json()["type"]) == (413, "TooLarge")


def test_sync_resume_hook_helper(client: FlaskClient) -> None:
    from wdk import HookNotFound

    with pytest.raises(HookNotFound):
        wdk_flask.resume_hook("wdkh_nope", {"x": 1})


def test_stream_through_the_route(client: FlaskClient) -> None:
    run_id = wdk_flask.start(streaming.tokens, 4, 0.01)  # read while it is written
    url = f"{WELL_KNOWN}/runs/{run_id}/stream"
    resp = client.get(url)
    assert resp.status_code == 200
    assert resp.headers["content-type"].startswith("application/x-ndjson")
    assert [json.loads(line) for line in resp.get_data(as_text=True).splitlines()] == [{"i": i} for i in range(4)]
    sse = client.get(url, query_string={"start": 3}, headers={"accept": "text/event-stream"})
    assert sse.get_data(as_text=True) == 'id: 3\ndata: {"i":3}\n\nevent: end\ndata: {"next":4}\n\n'
    assert client.get(f"{WELL_KNOWN}/runs/wrun_nope/stream").status_code == 404
    assert wdk_flask.result(run_id, timeout=10) == 4


def test_stream_negative_start_and_health(client: FlaskClient) -> None:
    run_id = wdk_flask.start(streaming.tokens, 3, 0)
    assert wdk_flask.result(run_id, timeout=10) == 3
    resp = client.get(f"{WELL_KNOWN}/runs/{run_id}/stream", query_string={"start": -1})
    assert resp.headers["x-wdk-stream-tail-index"] == "2"
    assert [json.loads(line) for line in resp.get_data(as_text=True).splitlines()] == [{"i": 2}]
    health = client.get(f"{WELL_KNOWN}/health")
    assert health.status_code == 200
    assert health.get_json()["status"] == "ok"
    assert health.get_json()["queue_consumer"]["alive"] is True


def test_a_reader_that_stops_early_closes_the_stream(client: FlaskClient) -> None:
    run_id = wdk_flask.start(streaming.tokens, 50, 0.01)
    resp = client.get(f"{WELL_KNOWN}/runs/{run_id}/stream", buffered=False)
    first = next(iter(resp.response))
    assert json.loads(first.splitlines()[0]) == {"i": 0}
    resp.close()  # the WSGI server closes the body: the follower ends on the loop
    assert wdk_flask.result(run_id, timeout=10) == 50


def test_the_sync_helpers_refuse_to_block_their_own_loop(client: FlaskClient) -> None:
    async def nested() -> str:
        return wdk_flask.start(basic.three_steps, 1)

    with pytest.raises(RuntimeError, match=r"await wdk\.api\.start"):
        background.run(nested())


def test_unknown_runs_and_hooks_in_the_apps_views_are_404(client: FlaskClient) -> None:
    for url in ("/results/wrun_nope", "/status/wrun_nope"):
        resp = client.get(url)
        assert resp.status_code == 404, url
        assert resp.get_json() == {"error": "no run with id 'wrun_nope'", "type": "RunNotFound", "id": "wrun_nope"}
    resp = client.post("/hooks/wdkh_nope")
    assert (resp.status_code, resp.get_json()["type"]) == (404, "HookNotFound")


def test_webhook_guessing_is_limited_per_client(client: FlaskClient) -> None:
    """Issue 15 item 6 on a plugin: unknown tokens cost guesses; out of them, 429."""
    started = client.post("/webhook-runs/wait_request").get_json()
    guesses = [client.post(f"{WELL_KNOWN}/webhook/wdkh_guess{i}").status_code for i in range(31)]
    assert guesses == [404] * 30 + [429]
    resp = client.post(f"{WELL_KNOWN}/webhook/{started['token']}", json={})
    assert resp.status_code == 429 and resp.get_json()["type"] == "TooManyRequests"
    other = client.post(f"{WELL_KNOWN}/webhook/{started['token']}", json={}, environ_base={"REMOTE_ADDR": "10.0.0.9"})
    assert other.status_code == 202  # another client is not limited
