"""Runs for the postgres-only tests. Every step attempt is logged to the
ledger of `flows.ledger` ($LEDGER_PATH).

- `ten`: ten short steps (the scale-out test).
- `slow_nap_slow`: a 0.5 s step, a 0.5 s durable sleep, another 0.5 s step
  (runs in flight while the server restarts).
"""

from __future__ import annotations

import asyncio
import os
import time

from flows.ledger import _append, work
from wdk import get_step_metadata, sleep

STEPS = 10
SLOW = 0.5


async def ten(x: int) -> int:
    "use workflow"
    for i in range(STEPS):
        x = await work(x, i)
    return x


async def slow(x: int, i: int) -> int:
    "use step"
    meta = get_step_metadata()
    t0 = time.monotonic()
    await asyncio.sleep(SLOW)
    record = {"run": meta.run_id, "corr": meta.correlation_id, "attempt": meta.attempt, "recovery": meta.recovery}
    _append({**record, "pid": os.getpid(), "t0": t0, "t1": time.monotonic()})
    return x * 2 + i


async def slow_nap_slow(x: int) -> int:
    "use workflow"
    x = await slow(x, 0)
    await sleep(SLOW)
    return await slow(x, 1)
