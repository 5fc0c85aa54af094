"""A run blocked by a code change, seen over HTTP: its webhook URL answers 202
(the payload is kept), the JSON API and the web UI show the divergence
(expected call, actual call, the user's file:line) and the code version, and
restoring the code lets it finish with the payload it got while blocked."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from test_web_browser import page  # noqa: F401  (the browser fixture)
from web_support import until

from wdk.api import start
from wdk.runtime.engine import get_runtime, shutdown_runtime
from wdk.server.app import start_server
from wdk.web import create_app

V1 = '''
import asyncio
from wdk import create_webhook


async def quote() -> int:
    "use step"
    return 10


async def notify() -> str:
    "use step"
    return "told"


async def approval() -> str:
    "use workflow"
    hook = create_webhook()
    q, n = await asyncio.gather(quote(), notify())
    request = await hook
    return f"{q}/{n}/{request.json()['ok']}"
'''
SWAPPED = V1.replace("q, n = await asyncio.gather(quote(), notify())", "n, q = await asyncio.gather(notify(), quote())")


def _deploy(folder: Path, module: str, source: str) -> None:
    path = folder / f"{module}.py"
    path.write_text(source)
    stamp = path.stat().st_mtime_ns + 1_000_000_000
    os.utime(path, ns=(stamp, stamp))


async def test_a_blocked_run_over_http_and_in_the_ui(
    page: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch  # noqa: F811
) -> None:
    from playwright.async_api import expect

    folder = tmp_path / "code"
    folder.mkdir()
    monkeypatch.syspath_prepend(str(folder))
    module = f"webblocked_{os.urandom(4).hex()}"
    _deploy(folder, module, V1)
    rt = await get_runtime(consume=True)
    api = await start_server("127.0.0.1", 0)
    ui = await start_server("127.0.0.1", 0, app=create_app())
    try:
        run = await start(f"workflow//{module}//approval")

        async def hook_token() -> str | None:
            hooks = await rt.world.list_hooks(run.id)
            completed = sum(e.type == "step_completed" for e in await run.events())
            return hooks[0].token if hooks and completed == 2 else None

        await until(hook_token, "the run to wait for its webhook")
        token = await hook_token()

        # The deploy: the run is replayed cold against the swapped code.
        _deploy(folder, module, SWAPPED)
        rt.orchestrator.drop(run.id)
        await rt.world.enqueue("flow", run.id)

        async def blocked() -> bool:
            return await run.status() == "blocked"

        await until(blocked, "the run to be blocked")

        async with aiohttp.ClientSession() as http:
            reply = await http.post(f"{api.url}/.well-known/workflow/v1/webhook/{token}", json={"ok": "yes"})
            assert reply.status == 202
            async with http.get(f"{api.url}/api/runs/{run.id}") as resp:
                shown = await resp.json()
            async with http.get(f"{api.url}/api/runs", params={"status": "blocked"}) as resp:
                listed = await resp.json()
        assert shown["status"] == "blocked"
        assert shown["code_version"].startswith("src:")
        divergence = shown["divergence"]
        assert f"step//{module}//quote" in divergence["expected"]
        assert f"step//{module}//notify" in divergence["actual"]
        assert divergence["location"].startswith(str(folder / f"{module}.py") + ":")
        assert [r["id"] for r in listed["runs"]] == [run.id]
        assert await run.status() == "blocked"

        await page.goto(f"{ui.url}/#/run/{run.id}")
        await expect(page.locator(".run-header .badge")).to_have_text("blocked")
        await expect(page.locator("#divergence-location")).to_have_text(divergence["location"])
        await expect(page.locator("#divergence-actual")).to_contain_text("notify")
        await expect(page.locator("#code-version")).to_have_text(shown["code_version"])
        await page.goto(f"{ui.url}/#/?status=blocked")
        await expect(page.locator(f'tr[data-run="{run.id}"] .badge')).to_have_text("blocked")

        # The old code back: the run finishes with the payload it got while blocked.
        _deploy(folder, module, V1)
        await rt.world.enqueue("flow", run.id)
        assert await run.result(timeout=20) == "10/told/yes"
    finally:
        await ui.close()
        await api.close()
        await shutdown_runtime()
