"""Workflows that schedules start, for tests/e2e/test_schedules.py."""

from __future__ import annotations

import wdk


async def report() -> str:
    "use workflow"
    return "done"


async def long_report() -> str:
    "use workflow"
    await wdk.sleep("1h")  # still running at the next tick (the test cancels it)
    return "done"
