"""A module with a schedule that fires every second (`wdk worker --import flows.ticking`)."""

from __future__ import annotations

import wdk


async def tick() -> str:
    "use workflow"
    return "tock"


TICKING = wdk.schedule(tick, cron="* * * * * *", name="every-second")
