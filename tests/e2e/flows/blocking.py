"""Steps that hold their worker: one blocks the event loop, one just waits.

Each execution appends "<pid> <attempt>.<recovery>" to a ledger file, then
waits for a gate file the test creates.
"""

from __future__ import annotations

import asyncio
import os
import time

from wdk import get_step_metadata


def _record(ledger: str) -> None:
    meta = get_step_metadata()
    with open(ledger, "a") as f:
        f.write(f"{os.getpid()} {meta.attempt}.{meta.recovery}\n")


async def blocks_loop(ledger: str, gate: str) -> str:
    "use step"
    _record(ledger)
    while not os.path.exists(gate):
        time.sleep(0.01)  # a blocking call in an async step: the loop stalls
    return "done"


async def waits(ledger: str, gate: str) -> str:
    "use step"
    _record(ledger)
    while not os.path.exists(gate):
        await asyncio.sleep(0.01)
    return "done"


async def blocked(ledger: str, gate: str) -> str:
    "use workflow"
    return await blocks_loop(ledger, gate)


async def waiting(ledger: str, gate: str) -> str:
    "use workflow"
    return await waits(ledger, gate)
