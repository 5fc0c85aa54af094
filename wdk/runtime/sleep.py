"""`wdk.sleep`: a durable wait in a workflow.

    await sleep("3d")        # no process is kept alive while the run sleeps
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

from wdk.runtime.current import require_instance
from wdk.runtime.durations import wake_time

__all__ = ["sleep"]


async def sleep(duration: str | int | float | timedelta | datetime) -> None:
    """Durably sleep: "10s", "5m", "1h", "3d", seconds, a timedelta, or a
    datetime to wake at. No process is kept alive while a run sleeps."""
    inst = require_instance("wdk.sleep()")
    delay = wake_time(duration, inst.loop.time()) - inst.loop.time()
    if delay > 0:
        await asyncio.sleep(delay)
