"""A step that kills its own worker (SIGKILL) a number of times before it
succeeds: crashes, not failures. Counted in the file $KILLER_COUNT."""

from __future__ import annotations

import os
import signal

from wdk import get_step_metadata


async def dies(times: int) -> str:
    "use step"
    path = os.environ["KILLER_COUNT"]
    with open(path, "a") as f:
        f.write(f"{get_step_metadata().attempt}\n")
    with open(path) as f:
        n = len(f.read().split())
    if n <= times:
        os.kill(os.getpid(), signal.SIGKILL)
    return f"survived {n - 1} kills"


dies.max_retries = 0  # type: ignore[attr-defined]  # no retries at all: only recoveries can save it


async def crash_loop(times: int) -> str:
    "use workflow"
    return await dies(times)
