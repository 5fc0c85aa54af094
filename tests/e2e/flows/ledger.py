"""Short steps that log every attempt (run, correlation id, attempt, pid,
monotonic start/end) to the ledger file named by $LEDGER_PATH, one JSON line
each, written with O_APPEND so several processes can share the file."""

from __future__ import annotations

import asyncio
import json
import os
import time

from wdk import get_step_metadata, sleep

STEPS = 3


def _append(record: dict[str, object]) -> None:
    path = os.environ.get("LEDGER_PATH")
    if not path:
        return
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, (json.dumps(record) + "\n").encode())
    finally:
        os.close(fd)


async def work(x: int, i: int) -> int:
    "use step"
    meta = get_step_metadata()
    t0 = time.monotonic()
    await asyncio.sleep(0.002)  # long enough for two overlapping attempts to show
    _append(
        {
            "run": meta.run_id,
            "corr": meta.correlation_id,
            "attempt": meta.attempt,
            "recovery": meta.recovery,
            "pid": os.getpid(),
            "t0": t0,
            "t1": time.monotonic(),
        }
    )
    return x * 2 + i


def expected(x: int, steps: int = STEPS) -> int:
    for i in range(steps):
        x = x * 2 + i
    return x


async def chain(x: int) -> int:
    "use workflow"
    for i in range(STEPS):
        x = await work(x, i)
    return x


async def napping_chain(x: int, nap: float) -> int:
    "use workflow"
    x = await work(x, 0)
    await sleep(nap)
    x = await work(x, 1)
    await sleep(nap / 2)
    return await work(x, 2)
