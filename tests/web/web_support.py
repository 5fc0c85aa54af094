"""Small helpers shared by the web UI tests."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

TOKEN = "web-test-token-0123456789"  # the test UI's WDK_API_TOKEN
AUTH = {"authorization": f"Bearer {TOKEN}"}


@dataclass
class Runs:
    completed: str
    failed: str
    sleeping: str


async def until(check: Callable[[], Awaitable[bool]], what: str, timeout: float = 10.0) -> None:
    """Poll the async predicate `check` until it is true."""
    deadline = time.monotonic() + timeout
    while not await check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.02)
