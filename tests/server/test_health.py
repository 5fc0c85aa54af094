"""GET /.well-known/workflow/v1/health on `wdk serve`'s app, and `wdk health`."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path
from typing import Any

import aiohttp
from support import WELL_KNOWN

from wdk.runtime.engine import get_runtime
from wdk.server.app import Server


async def _health(server: Server) -> tuple[int, dict[str, Any]]:
    async with aiohttp.ClientSession() as http, http.get(f"{server.url}{WELL_KNOWN}/health") as resp:
        return resp.status, await resp.json()


async def _cli(*args: str, env: dict[str, str] | None = None) -> tuple[int, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "wdk", "health", *args,
        env=env or os.environ.copy(), stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode is not None
    return proc.returncode, out.decode()


async def test_healthy_server_answers_200_without_a_token(server: Server) -> None:
    status, report = await _health(server)
    assert status == 200
    assert report["status"] == "ok" and report["reason"] is None
    assert report["world"]["name"] == "local" and report["world"]["ok"] is True
    assert report["queue_consumer"]["alive"] is True
    code, out = await _cli("--url", server.url)
    assert code == 0, out
    assert out.startswith("ok: local world reachable")
    code, out = await _cli("--url", server.url, "--json")
    assert code == 0 and json.loads(out)["status"] == "ok"


async def test_stopped_queue_consumer_is_503_with_the_reason(server: Server) -> None:
    rt = await get_runtime()
    consumer = rt._background[0]
    consumer.cancel()
    await asyncio.gather(consumer, return_exceptions=True)
    status, report = await _health(server)
    assert status == 503
    assert report["status"] == "unavailable"
    assert report["queue_consumer"]["alive"] is False
    assert "queue consumer is not running" in report["reason"]
    code, out = await _cli("--url", server.url)
    assert code == 1 and "unavailable" in out and "queue consumer" in out


async def test_unreachable_world_is_503_with_the_reason(server: Server) -> None:
    rt = await get_runtime()
    await rt.world.close()  # the store goes away under the running server
    status, report = await _health(server)
    assert status == 503
    assert report["world"]["ok"] is False
    assert "local world is unreachable" in report["reason"]


async def test_cli_without_a_server(tmp_path: Path) -> None:
    code, out = await _cli("--url", "http://127.0.0.1:9")  # nothing listens there
    assert code == 1 and "cannot reach http://127.0.0.1:9/.well-known/workflow/v1/health" in out
    code, out = await _cli("--direct", "--data-dir", str(tmp_path / "direct"))
    assert code == 0 and out.startswith("ok: local world reachable"), out
    env = {**os.environ, "WDK_POSTGRES_URL": "postgresql://127.0.0.1:9/none"}
    code, out = await _cli("--direct", "--world", "postgres", env=env)
    assert code == 1 and out.startswith("wdk: error:"), out
