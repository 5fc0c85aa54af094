"""wdk.plugins.starlette with FastAPI's and Starlette's own TestClient."""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator, Iterator

import pytest
from flows import basic, streaming, webhooks
from support import WELL_KNOWN, hook_token

pytest.importorskip("fastapi")

from fastapi import FastAPI
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from starlette.testclient import TestClient

import wdk.plugins.starlette
from wdk.api import get_run, resume_hook, start
from wdk.runtime.engine import current_runtime


def make_app() -> FastAPI:
    app = FastAPI()
    wdk.plugins.starlette.setup(app)

    @app.post("/add/{x}")
    async def run_basic(x: int) -> dict[str, object]:
        run = await start(basic.three_steps, x)
        return {"run_id": run.id, "result": await run.result(timeout=10)}

    @app.post("/webhook-runs/{name}")
    async def webhook_run(name: str) -> dict[str, str]:
        run = await start(getattr(webhooks, name))
        return {"run_id": run.id, "token": await hook_token(run)}

    @app.post("/stream-runs/{n}")
    async def stream_run(n: int) -> dict[str, str]:
        run = await start(streaming.tokens, n, 0)
        await run.result(timeout=10)
        return {"run_id": run.id}

    @app.get("/results/{run_id}")
    async def result(run_id: str) -> object:
        return await get_run(run_id).result(timeout=10)

    @app.get("/status/{run_id}")
    async def status(run_id: str) -> object:
        return await get_run(run_id).status()

    @app.post("/hooks/{token}")
    async def resume(token: str) -> object:
        return (await resume_hook(token, 1)).id

    return app


@pytest.fixture
def client() -> Iterator[TestClient]:
    with TestClient(make_app()) as c:  # `with`: the lifespan runs
        yield c


def test_a_route_starts_a_workflow_and_returns_its_result(client: TestClient) -> None:
    resp = client.post("/add/1")
    assert resp.status_code == 200
    assert resp.json()["result"] == 14  # (1 + 1) * 2 + 10


def test_webhook_post_through_the_app_resumes_the_run(client: TestClient) -> None:
    started = client.post("/webhook-runs/wait_request").json()
    resp = client.post(f"{WELL_KNOWN}/webhook/{started['token']}", json={"order": 7}, headers={"x-custom": "hi"})
    assert resp.status_code == 202
    assert resp.content == b""
    assert client.get(f"/results/{started['run_id']}").json() == {
        "method": "POST",
        "body": {"order": 7},
        "content_type": "application/json",
        "custom": "hi",
    }


def test_webhook_fixed_and_computed_replies(client: TestClient) -> None:
    fixed = client.post("/webhook-runs/fixed_response").json()
    resp = client.put(f"{WELL_KNOWN}/webhook/{fixed['token']}", content=b"payload")
    assert (resp.status_code, resp.text, resp.headers["x-reply"]) == (200, "thanks", "fixed")
    assert client.get(f"/results/{fixed['run_id']}").json() == "payload"

    computed = client.post("/webhook-runs/computed_response").json()
    resp = client.post(f"{WELL_KNOWN}/webhook/{computed['token']}", json={"n": 21})
    assert (resp.status_code, resp.json()) == (201, {"doubled": 42})


def test_webhook_errors(client: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    resp = client.post(f"{WELL_KNOWN}/webhook/wdkh_nope", content=b"x")
    assert resp.status_code == 404
    assert resp.json() == {"error": resp.json()["error"], "type": "HookNotFound", "id": "wdkh_nope"}
    monkeypatch.setenv("WDK_WEBHOOK_MAX_BYTES", "16")
    started = client.post("/webhook-runs/wait_request").json()
    resp = client.post(f"{WELL_KNOWN}/webhook/{started['token']}", content=b"x" * 17)
    assert resp.status_code == 413
    assert resp.json()["type"] == "TooLarge"
    # Chunked, with no content-length: counted as it arrives.
    resp = client.post(f"{WELL_KNOWN}/webhook/{started['token']}", content=iter([b"x" * 10, b"y" * 10]))
    assert resp.status_code == 413


def test_stream_ndjson_and_sse(client: TestClient) -> None:
    run_id = client.post("/stream-runs/5").json()["run_id"]
    url = f"{WELL_KNOWN}/runs/{run_id}/stream"
    resp = client.get(url)
    assert resp.status_code == 200
    assert resp.headers["content-type"].startswith("application/x-ndjson")
    assert [json.loads(line) for line in resp.text.splitlines()] == [{"i": i} for i in range(5)]
    assert [json.loads(line) for line in client.get(url, params={"start": 3}).text.splitlines()] == [
        {"i": 3},
        {"i": 4},
    ]
    sse = client.get(url, headers={"accept": "text/event-stream", "last-event-id": "3"})
    assert sse.headers["content-type"].startswith("text/event-stream")
    assert sse.text == 'id: 4\ndata: {"i":4}\n\nevent: end\ndata: {"next":5}\n\n'


def test_stream_errors(client: TestClient) -> None:
    resp = client.get(f"{WELL_KNOWN}/runs/wrun_nope/stream")
    assert (resp.status_code, resp.json()["type"]) == (404, "RunNotFound")
    run_id = client.post("/stream-runs/1").json()["run_id"]
    resp = client.get(f"{WELL_KNOWN}/runs/{run_id}/stream", params={"start": "x"})
    assert (resp.status_code, resp.json()["type"]) == (400, "BadRequest")


def test_stream_negative_start_and_tail_header(client: TestClient) -> None:
    run_id = client.post("/stream-runs/5").json()["run_id"]
    resp = client.get(f"{WELL_KNOWN}/runs/{run_id}/stream", params={"start": -2})
    assert resp.headers["x-wdk-stream-tail-index"] == "4"
    assert [json.loads(line) for line in resp.text.splitlines()] == [{"i": 3}, {"i": 4}]


def test_health(client: TestClient) -> None:
    resp = client.get(f"{WELL_KNOWN}/health")
    assert resp.status_code == 200
    report = resp.json()
    assert report["status"] == "ok" and report["reason"] is None
    assert report["world"]["name"] == "local" and report["queue_consumer"]["alive"] is True


def test_plain_starlette_keeps_its_own_lifespan() -> None:
    seen: list[str] = []

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        # wdk is up before the app's own startup code runs, and until after its shutdown.
        run = await start(basic.three_steps, 2)
        seen.append(f"startup {await run.result(timeout=10)}")
        yield
        seen.append(f"shutdown, runtime still there: {current_runtime() is not None}")

    async def home(request: Request) -> JSONResponse:
        return JSONResponse({"runtime": current_runtime() is not None})

    app = Starlette(routes=[Route("/", home)], lifespan=lifespan)
    wdk.plugins.starlette.setup(app)
    with TestClient(app) as client:
        assert client.get("/").json() == {"runtime": True}
    assert seen == ["startup 16", "shutdown, runtime still there: True"]


def test_unknown_runs_and_hooks_in_the_apps_routes_are_404(client: TestClient) -> None:
    for url in ("/results/wrun_nope", "/status/wrun_nope"):
        resp = client.get(url)
        assert resp.status_code == 404, url
        assert resp.json() == {"error": "no run with id 'wrun_nope'", "type": "RunNotFound", "id": "wrun_nope"}
    resp = client.post("/hooks/wdkh_nope")
    assert (resp.status_code, resp.json()["type"]) == (404, "HookNotFound")
