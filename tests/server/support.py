"""Small helpers shared by the server tests."""

from __future__ import annotations

import asyncio
import time

from wdk.api import Run

SECRET = "test-secret-0123456789"  # the test server's WDK_SECRET
TOKEN = "test-api-token-0123456789"  # the test server's WDK_API_TOKEN
AUTH = {"authorization": f"Bearer {TOKEN}"}  # headers of a request that may use the API

WELL_KNOWN = "/.well-known/workflow/v1"


async def hook_token(run: Run, timeout: float = 10.0) -> str:
    """The token of the run's first hook, once its hook_created is committed."""
    deadline = time.monotonic() + timeout
    while True:
        for ev in await run.events():
            if ev.type == "hook_created":
                return str(ev.payload["token"])
        assert time.monotonic() < deadline, "the run created no hook"
        await asyncio.sleep(0.01)


async def step_result(run: Run, timeout: float = 10.0) -> object:
    """The result of the run's first completed step."""
    deadline = time.monotonic() + timeout
    while True:
        for ev in await run.events():
            if ev.type == "step_completed":
                return ev.payload["result"]
        assert time.monotonic() < deadline, "no step completed"
        await asyncio.sleep(0.01)
