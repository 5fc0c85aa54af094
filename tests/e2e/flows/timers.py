"""Workflows whose timers come from helper code (tests/e2e/test_waits_end.py)."""

from __future__ import annotations

from flows.net_helpers import fetch_status, pause


async def checks_url(url: str) -> int:
    "use workflow"
    return await fetch_status(url)


async def pauses_in_a_helper(seconds: float) -> float:
    "use workflow"
    return await pause(seconds)


async def boom() -> None:
    "use step"
    from wdk import FatalError

    raise FatalError("boom")


async def fails_while_sleeping() -> None:
    "use workflow"
    import asyncio

    await asyncio.gather(asyncio.sleep(3600), boom())
