"""wdk.plugins.aiohttp on a user's aiohttp app, served by aiohttp's test server."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from flows import basic, streaming, webhooks
from support import WELL_KNOWN, hook_token

import wdk.plugins.aiohttp
from wdk.api import get_run, start
from wdk.runtime.engine import current_runtime

TOKEN = "plugin-test-token"
AUTH = {"authorization": f"Bearer {TOKEN}"}


async def run_basic(request: web.Request) -> web.Response:
    run = await start(basic.three_steps, int(request.match_info["x"]))
    return web.json_response({"result": await run.result(timeout=10)})


async def webhook_run(request: web.Request) -> web.Response:
    run = await start(webhooks.wait_request)
    return web.json_response({"run_id": run.id, "token": await hook_token(run)})


async def result(request: web.Request) -> web.Response:
    return web.json_response(await get_run(request.match_info["run_id"]).result(timeout=10))


async def status(request: web.Request) -> web.Response:
    return web.json_response(await get_run(request.match_info["run_id"]).status())


async def broken(request: web.Request) -> web.Response:
    raise KeyError("the app's own bug")


@pytest.fixture
async def client() -> AsyncIterator[TestClient[web.Request, web.Application]]:
    app = web.Application()
    app.router.add_post("/add/{x}", run_basic)
    app.router.add_post("/webhook-runs", webhook_run)
    app.router.add_get("/results/{run_id}", result)
    app.router.add_get("/status/{run_id}", status)
    app.router.add_get("/broken", broken)
    wdk.plugins.aiohttp.setup(app, webhook_max_bytes=16, api_token=TOKEN)
    async with TestClient(TestServer(app)) as c:
        yield c
    assert current_runtime() is None  # stopped on cleanup


async def test_routes_start_workflows_and_webhooks_resume_them(client: TestClient[web.Request, web.Application]) -> None:
    async with client.post("/add/1") as resp:
        assert (resp.status, await resp.json()) == (200, {"result": 14})
    async with client.post("/webhook-runs") as resp:
        started = await resp.json()
    async with client.post(f"{WELL_KNOWN}/webhook/{started['token']}", data=b"x" * 17) as resp:
        assert resp.status == 413
    async with client.post(f"{WELL_KNOWN}/webhook/{started['token']}", json={"o": 1}) as resp:
        assert resp.status == 202
    async with client.get(f"/results/{started['run_id']}") as resp:
        assert (await resp.json())["body"] == {"o": 1}
    async with client.post(f"{WELL_KNOWN}/webhook/wdkh_nope") as resp:
        assert (resp.status, (await resp.json())["type"]) == (404, "HookNotFound")


async def test_stream_and_json_api(client: TestClient[web.Request, web.Application]) -> None:
    run = await start(streaming.tokens, 3, 0)
    async with client.get(f"{WELL_KNOWN}/runs/{run.id}/stream") as resp:
        assert [json.loads(line) for line in (await resp.text()).splitlines()] == [{"i": i} for i in range(3)]
    async with client.get(f"/api/runs/{run.id}", params={"wait": "10"}) as resp:
        assert resp.status == 401  # the JSON API needs the API token, on a plugin too
    async with client.get(f"/api/runs/{run.id}", params={"wait": "10"}, headers=AUTH) as resp:
        assert (await resp.json())["status"] == "completed"


async def test_health(client: TestClient[web.Request, web.Application]) -> None:
    async with client.get(f"{WELL_KNOWN}/health") as resp:
        assert resp.status == 200
        report = await resp.json()
    assert report["status"] == "ok" and report["queue_consumer"]["alive"] is True


async def test_the_apps_own_errors_are_left_alone(client: TestClient[web.Request, web.Application]) -> None:
    async with client.get("/broken") as resp:
        assert resp.status == 500
        assert resp.content_type == "text/plain"  # aiohttp's page, not wdk's JSON
    async with client.get("/nowhere") as resp:
        assert resp.status == 404


async def test_unknown_runs_in_the_apps_routes_are_404(client: TestClient[web.Request, web.Application]) -> None:
    for url in ("/results/wrun_nope", "/status/wrun_nope"):
        async with client.get(url) as resp:
            assert resp.status == 404, url
            assert await resp.json() == {"error": "no run with id 'wrun_nope'", "type": "RunNotFound", "id": "wrun_nope"}
