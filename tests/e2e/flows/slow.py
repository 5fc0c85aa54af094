"""A step that runs until cancelled, and says so in a ledger file."""

from __future__ import annotations

import asyncio
import os


async def wait_forever(ledger: str) -> str:
    "use step"
    with open(ledger, "a") as f:
        f.write("started\n")
    try:
        await asyncio.sleep(60)
    except asyncio.CancelledError:
        with open(ledger, "a") as f:
            f.write(f"cancelled in {os.getpid()}\n")
        raise
    return "finished"


async def long_step(ledger: str) -> str:
    "use workflow"
    return await wait_forever(ledger)
