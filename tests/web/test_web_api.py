"""The `wdk web` application's HTTP side, through aiohttp's test client."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from web_support import Runs

from wdk.web import create_app
from wdk.worlds import Lease


@pytest.fixture
async def client(runs: Runs) -> AsyncIterator[TestClient[object, object]]:
    async with TestClient(TestServer(create_app(), host="127.0.0.1")) as c:
        yield c


async def test_page_and_assets(client: TestClient[object, object]) -> None:
    resp = await client.get("/")
    assert resp.status == 200
    assert resp.content_type == "text/html"
    assert "default-src 'none'" in resp.headers["content-security-policy"]
    page = await resp.text()
    assert '<script src="static/app.js">' in page
    for name, kind in (("app.js", "text/javascript"), ("app.css", "text/css")):
        asset = await client.get(f"/static/{name}")
        assert asset.status == 200 and asset.content_type == kind
    for bad in ("/static/nope.js", "/static/..%2fapp.py", "/static/.hidden.js", "/static/index.py"):
        resp = await client.get(bad)
        assert resp.status == 404, bad
        assert (await resp.json())["type"] == "NotFound"


async def test_runs_list_filters_and_pages(client: TestClient[object, object], runs: Runs) -> None:
    resp = await client.get("/api/runs")
    statuses = {r["id"]: r["status"] for r in (await resp.json())["runs"]}
    assert statuses == {runs.completed: "completed", runs.failed: "failed", runs.sleeping: "running"}

    failed = await (await client.get("/api/runs?status=failed")).json()
    assert [r["id"] for r in failed["runs"]] == [runs.failed]
    naps = await (await client.get("/api/runs?workflow=web_flows:nap")).json()
    assert [r["id"] for r in naps["runs"]] == [runs.sleeping]

    seen: list[str] = []
    cursor = ""
    while True:
        page = await (await client.get(f"/api/runs?limit=1&cursor={cursor}")).json()
        seen += [r["id"] for r in page["runs"]]
        if not page["next_cursor"]:
            break
        cursor = page["next_cursor"]
    assert seen == [runs.sleeping, runs.failed, runs.completed]  # newest first

    resp = await client.get("/api/runs?status=bogus")
    assert resp.status == 400


async def test_run_detail_and_events(client: TestClient[object, object], runs: Runs) -> None:
    detail = await (await client.get(f"/api/runs/{runs.completed}/detail")).json()
    assert detail["run"]["status"] == "completed"
    assert detail["run"]["output"]["tracking"] == "tracking-A-1001"
    steps = {s["step_id"].split("//")[-1]: s for s in detail["steps"]}
    assert set(steps) == {"reserve", "charge", "ship"}
    assert steps["charge"]["attempt"] == 3
    assert [w["status"] for w in detail["waits"]] == ["completed"]
    assert detail["hooks"] == []

    events = (await (await client.get(f"/api/runs/{runs.completed}/events")).json())["events"]
    retries = [e["payload"]["error"]["message"] for e in events if e["type"] == "step_retrying"]
    assert retries == ["payment gateway timeout (attempt 1)", "payment gateway timeout (attempt 2)"]
    tail = (await (await client.get(f"/api/runs/{runs.completed}/events?after={len(events) - 2}")).json())
    assert [e["type"] for e in tail["events"]] == ["run_completed"]

    failed = await (await client.get(f"/api/runs/{runs.failed}/detail")).json()
    assert failed["run"]["error"]["message"] == "card declined for A-1002"
    assert "Traceback" in failed["run"]["error"]["traceback"]

    for path in ("", "/detail", "/events"):
        resp = await client.get(f"/api/runs/wrun_nope{path}")
        assert resp.status == 404, path


async def test_stream_ndjson_and_sse(client: TestClient[object, object], runs: Runs) -> None:
    resp = await client.get(f"/api/runs/{runs.completed}/stream")
    lines = (await resp.text()).splitlines()
    assert [line for line in lines if line] == [
        '{"order":"A-1001","stage":"packed"}',
        '{"order":"A-1001","stage":"labelled"}',
        '{"order":"A-1001","stage":"shipped"}',
    ]
    resp = await client.get(
        f"/api/runs/{runs.completed}/stream?namespace=default",
        headers={"accept": "text/event-stream", "last-event-id": "0"},
    )
    assert resp.content_type == "text/event-stream"
    body = await resp.text()
    assert "packed" not in body and "id: 1\n" in body and "id: 2\n" in body
    assert body.endswith('event: end\ndata: {"next":3}\n\n')


async def test_cancel_a_sleeping_run(client: TestClient[object, object], runs: Runs) -> None:
    resp = await client.post(f"/api/runs/{runs.sleeping}/cancel")
    assert resp.status == 200
    assert (await resp.json())["status"] == "cancelled"
    run = await (await client.get(f"/api/runs/{runs.sleeping}")).json()
    assert run["status"] == "cancelled"
    # Its sleep ended with it (it was left "waiting" for ever).
    detail = await (await client.get(f"/api/runs/{runs.sleeping}/detail")).json()
    assert [w["status"] for w in detail["waits"]] == ["cancelled"]
    # An ended run is left as it was.
    resp = await client.post(f"/api/runs/{runs.completed}/cancel")
    assert (await resp.json())["status"] == "completed"
    assert (await client.post("/api/runs/wrun_nope/cancel")).status == 404


async def test_read_only_surface(client: TestClient[object, object]) -> None:
    # The UI starts nothing and resumes no hook: those endpoints are `wdk serve`'s.
    resp = await client.post("/api/runs", json={"workflow": "web_flows:nap"})
    assert resp.status == 405
    assert (await client.post("/api/hooks/tok", json={"payload": 1})).status == 404


async def test_the_app_never_advances_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    """Served alone, the app opens a client-only runtime: a run started in
    its loop stays pending (a worker would advance it)."""
    import web_flows

    from wdk.api import start
    from wdk.runtime.engine import shutdown_runtime
    from wdk.worlds.local import LocalWorld

    # Advancing a run starts with leasing it; a consumer leases as soon as it
    # starts, so by the time the list below is served it would have tried.
    leased: list[str] = []
    real_lease = LocalWorld.lease

    async def spy(self: LocalWorld, queue: str, owner: str, **kw: Any) -> list[Lease]:
        leased.append(queue)
        return await real_lease(self, queue, owner, **kw)

    monkeypatch.setattr(LocalWorld, "lease", spy)
    try:
        async with TestClient(TestServer(create_app(), host="127.0.0.1")) as client:
            run = await start(web_flows.checkout, "B-1")
            listed = await (await client.get("/api/runs")).json()
            assert [(r["id"], r["status"]) for r in listed["runs"]] == [(run.id, "pending")]
            assert leased == []
    finally:
        await shutdown_runtime()


async def test_schedules_listed_paused_and_resumed(client: TestClient[object, object]) -> None:
    from wdk.runtime.engine import get_runtime
    from wdk.worlds.base import ScheduleState

    world = (await get_runtime(consume=False)).world
    spec = {"workflow_id": "workflow//web_flows//nap", "cron": "*/5 * * * *", "tz": "UTC",
            "overlap": "skip", "catchup": None}
    await world.save_schedule(ScheduleState("every5", spec, last_tick=1_780_000_000.0))
    [row] = (await (await client.get("/api/schedules")).json())["schedules"]
    assert (row["name"], row["cron"], row["paused"]) == ("every5", "*/5 * * * *", False)
    assert row["next_fire"] % 300 == 0
    paused = await (await client.post("/api/schedules/every5/pause")).json()
    assert paused["paused"] and paused["next_fire"] is None
    resumed = await (await client.post("/api/schedules/every5/resume")).json()
    assert not resumed["paused"]
    assert (await client.post("/api/schedules/nope/pause")).status == 404
