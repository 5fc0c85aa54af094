"""`wdk serve` as a process: starts on a free port, answers, stops on SIGTERM."""

from __future__ import annotations

import asyncio
import signal
import sys
from pathlib import Path

import aiohttp


async def test_wdk_serve_process(data_dir: Path, subprocess_env: dict[str, str]) -> None:
    env = {**subprocess_env, "WDK_SECRET": ""}
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
        async with aiohttp.ClientSession() as http:
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
