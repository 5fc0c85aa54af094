"""`wdk serve` as a process: starts on a free port, answers, stops on SIGTERM."""

from __future__ import annotations

import asyncio
import signal
import sys
import time
from pathlib import Path

import aiohttp
from support import AUTH


async def test_wdk_serve_process(data_dir: Path, subprocess_env: dict[str, str]) -> None:
    env = {**subprocess_env, "WDK_SECRET": "", "WDK_API_TOKEN": ""}
    env.pop("WDK_BASE_URL", None)
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "wdk", "serve", "--port", "0", "--data-dir", str(data_dir),
        env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    assert proc.stdout is not None
    try:
        banner = (await asyncio.wait_for(proc.stdout.readline(), 20)).decode()
        assert banner.startswith("wdk serve on http://127.0.0.1:"), banner
        assert "generated secret" in banner  # said, but not shown
        url = banner.split()[3]
        # No WDK_API_TOKEN: one is generated and printed once, the only way in.
        said = (await asyncio.wait_for(proc.stdout.readline(), 20)).decode()
        assert said.startswith("wdk serve: API token (no WDK_API_TOKEN set): "), said
        token = said.split()[-1]
        async with aiohttp.ClientSession() as http:
            async with http.get(url + "/api/runs") as resp:
                assert resp.status == 401
        async with aiohttp.ClientSession(headers={"authorization": f"Bearer {token}"}) as http:
            async with http.post(url + "/api/runs", json={"workflow": "server_flows:adder", "args": [1, 2]}) as resp:
                assert resp.status == 201
                run_id = (await resp.json())["run_id"]
            async with http.get(f"{url}/api/runs/{run_id}?wait=10") as resp:
                assert (await resp.json())["output"] == 3
            async with http.post(url + "/.well-known/workflow/v1/flow", json={"run_id": run_id}) as resp:
                assert resp.status == 401
    finally:
        proc.send_signal(signal.SIGTERM)
        _out, err = await asyncio.wait_for(proc.communicate(), 20)
    assert proc.returncode == 0, err.decode()


async def test_wdk_serve_refuses_bad_arguments_and_cancels_unloadable_runs(
    data_dir: Path, subprocess_env: dict[str, str], tmp_path: Path
) -> None:
    # The app: three bad starts gave 45 tracebacks in 15 s, and cancel did not stop them.
    from wdk.runtime import serde
    from wdk.runtime.engine import FLOW
    from wdk.worlds import NewRun, create_world

    code = tmp_path / "code"
    code.mkdir()
    (code / "unloadable_flow.py").write_text('async def wf() -> None:\n    "use workflow"\n\ndef oops(:\n')
    env = {**subprocess_env, "WDK_SECRET": "", "WDK_LOAD_RETRY": "0.05"}
    env["PYTHONPATH"] = f"{code}:{env['PYTHONPATH']}"
    env.pop("WDK_BASE_URL", None)
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "wdk", "serve", "--port", "0", "--data-dir", str(data_dir),
        env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    assert proc.stdout is not None and proc.stderr is not None
    world = create_world("local", data_dir=data_dir)
    await world.open()
    seen: list[str] = []
    try:
        url = (await asyncio.wait_for(proc.stdout.readline(), 20)).decode().split()[3]
        async with aiohttp.ClientSession(headers=AUTH) as http:
            body = {"workflow": "flows.arguments:process_order", "args": ["o3"]}
            async with http.post(url + "/api/runs", json=body) as resp:
                assert resp.status == 400
                out = await resp.json()
            assert out["type"] == "TypeError"
            assert out["error"] == "process_order(order_id, qty, *, express=False): missing a required argument: 'qty'"
            async with http.get(url + "/api/runs") as resp:
                assert (await resp.json())["runs"] == []  # nothing was written

            broken = "workflow//unloadable_flow//wf"
            payload = {"workflow_id": broken, "input": serde.encode_call((), {}), "seed": "00" * 16}
            await world.create_run(NewRun("wrun_broken", broken, time.time(), payload))
            await world.enqueue(FLOW, "wrun_broken")
            while not any("cannot load the workflow of run wrun_broken" in line for line in seen):
                seen.append((await asyncio.wait_for(proc.stderr.readline(), 20)).decode())
            async with http.post(url + "/api/runs/wrun_broken/cancel") as resp:
                assert (resp.status, (await resp.json())["status"]) == (200, "cancelled")
            deadline = time.monotonic() + 20
            while await world.next_available_at(FLOW) is not None:  # dropped, not retried
                assert time.monotonic() < deadline, "the cancelled run is still retried"
                await asyncio.sleep(0.05)
    finally:
        await world.close()
        proc.send_signal(signal.SIGTERM)
        _out, err = await asyncio.wait_for(proc.communicate(), 20)
    log = "".join(seen) + err.decode()
    assert proc.returncode == 0, log
    assert log.count("cannot load the workflow of run") == 1, log
    assert "Traceback" not in log
