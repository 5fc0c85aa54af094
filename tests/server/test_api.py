"""The JSON API and the signed endpoints, from this process and another."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import Any

import aiohttp
import server_flows
from flows import hooks
from support import SECRET, WELL_KNOWN, hook_token

from wdk.api import start
from wdk.server.app import Server
from wdk.server.signing import HEADER, sign

HERE = Path(__file__).resolve().parent


async def test_client_in_another_process(server: Server, subprocess_env: dict[str, str]) -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, str(HERE / "remote_client.py"), server.url,
        env=subprocess_env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 50)
    assert proc.returncode == 0, err.decode()
    seen = json.loads(out.decode().splitlines()[-1])
    assert seen["result"] == 5 and seen["status"] == "completed"
    assert seen["events"][0] == "run_created" and seen["events"][-1] == "run_completed"
    assert seen["idempotent"] is True
    assert seen["hook_result"] == "{'x': (1, 2)}"
    assert seen["typed_refused"] is True and seen["typed_result"] is True
    assert seen["hook_not_found"] == "no-such-token"
    assert seen["run_not_found"] == "wrun_nope"
    assert seen["stream"] == [0, 1, 2, 3, 4] and seen["stream_from_3"] == [3, 4]
    assert seen["cancelled_status"] == "cancelled" and seen["cancelled_raises"] is True
    assert seen["webhook_reply"] == [201, {"doubled": 8}]


async def _call(http: aiohttp.ClientSession, method: str, url: str, **kw: Any) -> tuple[int, Any]:
    async with http.request(method, url, **kw) as resp:
        raw = await resp.read()
        try:
            return resp.status, json.loads(raw)
        except ValueError:
            return resp.status, raw


async def test_signed_endpoints(server: Server) -> None:
    run = await start(hooks.one_payload, "signed")
    await hook_token(run)
    body = json.dumps({"run_id": run.id}).encode()
    flow = f"{server.url}{WELL_KNOWN}/flow"
    step = f"{server.url}{WELL_KNOWN}/step"
    async with aiohttp.ClientSession() as http:
        assert (await _call(http, "POST", flow, data=body))[0] == 401
        assert (await _call(http, "POST", flow, data=body, headers={HEADER: "sha256=00"}))[0] == 401
        assert (await _call(http, "POST", flow, data=body, headers={HEADER: sign(body, "wrong")}))[0] == 401
        assert (await _call(http, "POST", flow, data=body + b" ", headers={HEADER: sign(body, SECRET)}))[0] == 401
        status, out = await _call(http, "POST", flow, data=body, headers={HEADER: sign(body, SECRET)})
        assert (status, out["run_id"]) == (202, run.id)
        bad = b"{not json"
        status, out = await _call(http, "POST", flow, data=bad, headers={HEADER: sign(bad, SECRET)})
        assert status == 400 and "malformed JSON" in out["error"]
        other = json.dumps({"run_id": "wrun_nope"}).encode()
        assert (await _call(http, "POST", flow, data=other, headers={HEADER: sign(other, SECRET)}))[0] == 404
        steps = [e for e in await run.events() if e.type == "step_created"]
        sbody = json.dumps({"run_id": run.id, "correlation_id": steps[0].correlation_id}).encode()
        assert (await _call(http, "POST", step, data=sbody))[0] == 401
        assert (await _call(http, "POST", step, data=sbody, headers={HEADER: sign(sbody, SECRET)}))[0] == 202
        nope = json.dumps({"run_id": run.id, "correlation_id": "step_9_x"}).encode()
        assert (await _call(http, "POST", step, data=nope, headers={HEADER: sign(nope, SECRET)}))[0] == 404
        missing = json.dumps({"run_id": run.id}).encode()
        assert (await _call(http, "POST", step, data=missing, headers={HEADER: sign(missing, SECRET)}))[0] == 400
    await run.cancel()


async def test_json_api_errors_and_listing(server: Server) -> None:
    api = f"{server.url}/api"
    async with aiohttp.ClientSession() as http:
        status, out = await _call(http, "POST", f"{api}/runs", data=b"{oops")
        assert status == 400 and out["error"]
        assert (await _call(http, "POST", f"{api}/runs", json={"workflow": 3}))[0] == 400
        assert (await _call(http, "POST", f"{api}/runs", json={"workflow": "nope"}))[0] == 400
        assert (await _call(http, "POST", f"{api}/runs", json={"workflow": "nowhere:wf"}))[0] == 404
        assert (await _call(http, "POST", f"{api}/runs", json={"workflow": "os:getcwd"}))[0] == 404
        assert (await _call(http, "POST", f"{api}/runs", json={"workflow": "server_flows:missing"}))[0] == 404
        tagged = {"$wdk": "dataclass", "cls": "antigravity:X", "v": {}}
        status, out = await _call(http, "POST", f"{api}/runs", json={"workflow": "server_flows:adder", "args": [tagged]})
        assert status == 400 and "not loaded" in out["error"]
        status, out = await _call(http, "POST", f"{api}/runs", json={"workflow": "server_flows:adder", "args": [20, 22]})
        assert status == 201
        run_id = out["run_id"]
        status, out = await _call(http, "GET", f"{api}/runs/{run_id}?wait=10")
        assert status == 200 and out["status"] == "completed" and out["output"] == 42
        status, out = await _call(http, "GET", f"{api}/runs?workflow=server_flows:adder&limit=5")
        assert status == 200 and [r["id"] for r in out["runs"]] == [run_id]
        assert (await _call(http, "GET", f"{api}/runs?status=bogus"))[0] == 400
        assert (await _call(http, "GET", f"{api}/runs?limit=0"))[0] == 400
        assert (await _call(http, "GET", f"{api}/runs?cursor=%%%"))[0] == 400
        assert (await _call(http, "GET", f"{api}/runs/{run_id}?wait=nan"))[0] == 400
        status, out = await _call(http, "GET", f"{api}/runs/{run_id}/events")
        assert status == 200 and out["events"][-1]["type"] == "run_completed"
        assert (await _call(http, "GET", f"{api}/runs/wrun_nope/events"))[0] == 404
        assert (await _call(http, "GET", f"{api}/runs/wrun_nope"))[0] == 404
        assert (await _call(http, "POST", f"{api}/runs/wrun_nope/cancel"))[0] == 404
        assert (await _call(http, "POST", f"{api}/hooks/nope", json={"payload": 1}))[0] == 404
        assert (await _call(http, "POST", f"{api}/hooks/nope", json={"nopayload": 1}))[0] == 400
        assert (await _call(http, "POST", f"{api}/hooks/nope", data=b"[1"))[0] == 400
    assert await server_flows.add(1, 2) == 3  # steps stay plain functions


async def test_start_with_arguments_that_do_not_fit_is_a_400_and_a_type_error(server: Server) -> None:
    import pytest

    from wdk.client import StartOptions
    from wdk.client.http import HttpClient
    from wdk.runtime.engine import get_runtime

    body = {"workflow": "server_flows:adder", "args": [1], "kwargs": {"c": 3}}
    async with aiohttp.ClientSession() as http:
        status, out = await _call(http, "POST", f"{server.url}/api/runs", json=body)
    assert status == 400
    assert out == {"error": "adder(a, b): missing a required argument: 'b'", "type": "TypeError"}
    client = HttpClient(server.url)
    with pytest.raises(TypeError, match=r"^adder\(a, b\): got an unexpected keyword argument 'c'$"):
        await client.start("workflow//server_flows//adder", (1, 2), {"c": 3}, StartOptions())
    assert await client.start("workflow//server_flows//adder", (1, 2), {}, StartOptions())
    rt = await get_runtime()
    assert len((await rt.world.list_runs()).items) == 1  # only the good start wrote a run


async def test_a_workflow_argument_named_like_an_option_goes_through_http(server: Server) -> None:
    from flows import arguments

    from wdk.api import configure, start_with

    configure(server_url=server.url)
    run = await start_with(idempotency_key="http-k")(arguments.keyed, idempotency_key="mine")
    assert await run.result(timeout=10) == "its own argument: mine"
    assert (await start_with(idempotency_key="http-k")(arguments.keyed, idempotency_key="x")).id == run.id


async def test_priority_and_debounce_go_through_http(server: Server) -> None:
    from flows import arguments

    from wdk.api import configure, start_with

    configure(server_url=server.url)
    runs = [await start_with(debounce=("0.3s", "k"))(arguments.keyed, idempotency_key=f"v{i}") for i in range(3)]
    assert len({r.id for r in runs}) == 1
    assert await runs[0].result(timeout=10) == "its own argument: v2"
    urgent = await start_with(priority=7)(arguments.keyed, idempotency_key="u")
    assert (await urgent.events())[0].payload["priority"] == 7
    async with aiohttp.ClientSession() as http:
        status, out = await _call(http, "POST", f"{server.url}/api/runs", json={
            "workflow": "workflow//flows.arguments//keyed", "args": [], "kwargs": {"idempotency_key": "x"},
            "debounce": ["soon", "k"],
        })
    assert status == 400 and "debounce" in out["error"]


async def test_rerun_and_retry_over_http(server: Server, tmp_path: Path) -> None:
    """`Run.rerun()` and `Run.retry()` through a `server_url` client (POST
    /api/runs/{id}/rerun and /retry); a retry of a run that did not fail is a
    ValueError (HTTP 400), as in process."""
    import pytest

    from wdk import WorkflowFailed
    from wdk.api import configure, start

    configure(server_url=server.url)
    flag = tmp_path / "down"
    flag.touch()
    run = await start(server_flows.charge_twice, str(flag))
    with pytest.raises(WorkflowFailed, match="card service is down"):
        await run.result(timeout=10)
    flag.unlink()
    again = await run.rerun()
    assert again.id != run.id and await again.result(timeout=10) == 13
    events = await again.events()
    assert events[0].payload["rerun_of"] == run.id
    assert [e.payload.get("reused_from") for e in events if e.type == "step_completed"] == [run.id, None]
    await run.retry()
    assert await run.result(timeout=10) == 13
    with pytest.raises(ValueError, match="only a failed run can be retried"):
        await run.retry()
