"""A scheduler process for tests/e2e/test_schedules.py, on a clock the test
drives: `python schedule_child.py CLOCK_FILE NAME CRON` fires schedule NAME
(workflow flows.scheduled:report) whenever the time in CLOCK_FILE changes,
printing `ticked <time> <run ids>`; it exits when the file says `stop`.
The world comes from the WDK_* variables (the test's)."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from wdk.runtime.config import make_world
from wdk.runtime.engine import Runtime
from wdk.runtime.schedules import Schedule, Scheduler
from wdk.settings import current_settings


async def main(clock_file: Path, name: str, cron: str) -> None:
    settings = current_settings()
    rt = Runtime(make_world(settings), settings=settings)
    await rt.start(consume=False)  # starts runs; the test's process does not advance them either
    now = [0.0]

    async def start(workflow_id: str, key: str) -> str:
        return await rt.start_run(workflow_id, (), {}, idempotency_key=key)

    schedule = Schedule(name, "workflow//flows.scheduled//report", cron, overlap="allow")
    scheduler = Scheduler(rt.world, start, clock=lambda: now[0], schedules=[schedule])
    print("ready", flush=True)
    seen = ""
    try:
        while True:
            text = clock_file.read_text().strip() if clock_file.exists() else ""
            if text == "stop":
                return
            if text and text != seen:
                seen = text
                now[0] = float(text)
                ids = await scheduler.tick()
                print("ticked", text, *ids, flush=True)
            await asyncio.sleep(0.005)
    finally:
        await rt.stop()


if __name__ == "__main__":
    asyncio.run(main(Path(sys.argv[1]), sys.argv[2], sys.argv[3]))
