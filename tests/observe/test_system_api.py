"""`GET /api/system` (wdk serve and wdk web) and the runs list's new filters."""

from __future__ import annotations

import time
from typing import Any

import aiohttp
import observe_flows

from wdk.api import start
from wdk.runtime.engine import get_runtime, shutdown_runtime
from wdk.server.app import start_server
from wdk.web import create_app
from wdk.worlds.base import ScheduleState

TOKEN = "observe-test-token"  # both servers' API token
AUTH = {"authorization": f"Bearer {TOKEN}"}


async def _get(url: str) -> tuple[int, Any]:
    async with aiohttp.ClientSession(headers=AUTH) as session, session.get(url) as resp:
        return resp.status, await resp.json()


async def test_system_and_runs_filters_on_serve_and_web() -> None:
    rt = await get_runtime()
    serve = await start_server(port=0, api_token=TOKEN)
    web = await start_server(port=0, app=create_app(api_token=TOKEN))
    try:
        began = time.time()
        runs = [await start(observe_flows.checkout, f"s-{i}") for i in range(2)]
        for run in runs:
            await run.result(timeout=10)
        for base in (serve.url, web.url):
            status, system = await _get(f"{base}/api/system?minutes=5")
            assert status == 200
            assert system["counts"]["completed"] == 2
            assert system["queue"] == {"ready": 0, "scheduled": 0, "leased": 0}
            # This test's runtime is the one live worker; it holds no lease now.
            assert [(w["worker_id"], w["leases"]) for w in system["workers"]] == [(rt.worker_id, 0)]
            assert len(system["throughput"]) == 5
            assert sum(m["completed"] for m in system["throughput"]) == 2
            assert all(m["minute"] % 60 == 0 for m in system["throughput"])
            assert system["schedules"] == {"total": 0, "paused": 0, "next": None}
            status, body = await _get(f"{base}/api/system?minutes=0")
            assert status == 400 and "minutes" in body["error"]

            status, page = await _get(f"{base}/api/runs?created_after={began - 1}")
            assert [r["id"] for r in page["runs"]] == [runs[1].id, runs[0].id]
            status, page = await _get(f"{base}/api/runs?created_before={began - 1}")
            assert page["runs"] == []
            status, page = await _get(f"{base}/api/runs?status=blocked")
            assert status == 200 and page["runs"] == []
            status, body = await _get(f"{base}/api/runs?created_after=soon")
            assert status == 400 and "created_after" in body["error"]
    finally:
        await web.close()
        await serve.close()
        await shutdown_runtime()


async def test_system_summarises_the_schedules() -> None:
    rt = await get_runtime(consume=False)
    web = await start_server(port=0, app=create_app(api_token=TOKEN))
    try:
        for name, cron, paused in (("hourly", "0 * * * *", False), ("daily", "0 3 * * *", False), ("off", "* * * * *", True)):
            spec = {"workflow_id": "workflow//observe_flows//nap", "cron": cron, "tz": "UTC", "overlap": "skip", "catchup": None}
            await rt.world.save_schedule(ScheduleState(name, spec, paused=paused))
        status, system = await _get(f"{web.url}/api/system")
    finally:
        await web.close()
        await shutdown_runtime()
    assert status == 200
    summary = system["schedules"]
    assert (summary["total"], summary["paused"]) == (3, 1)
    # The top of the next hour (03:00 is "daily"'s too: either may be named then); never the paused one.
    assert summary["next"]["name"] in ("hourly", "daily")
    assert summary["next"]["at"] == (int(system["at"]) // 3600 + 1) * 3600
