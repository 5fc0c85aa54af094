"""The soak test's workflow: ten steps (async and plain `def`, one durable
sleep) that log every execution to $SOAK_LEDGER, one line each:
`run corr attempt.recovery pid started_at`."""

from __future__ import annotations

import asyncio
import os
import time

from wdk import get_step_metadata, sleep

STEPS = 10


def _log() -> None:
    meta = get_step_metadata()
    line = f"{meta.run_id} {meta.correlation_id} {meta.attempt}.{meta.recovery} {os.getpid()} {time.time()!r}\n"
    fd = os.open(os.environ["SOAK_LEDGER"], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, line.encode())
    finally:
        os.close(fd)


async def async_step(x: int) -> int:
    "use step"
    _log()
    await asyncio.sleep(0.005)
    return x + 1


def sync_step(x: int) -> int:
    "use step"
    _log()
    time.sleep(0.005)
    return x * 2


async def soak(x: int) -> int:
    "use workflow"
    for i in range(STEPS):
        x = await (async_step(x) if i % 2 == 0 else sync_step(x))
        if i == STEPS // 2:
            await sleep(0.05)
    return x


def expected(x: int) -> int:
    for i in range(STEPS):
        x = x + 1 if i % 2 == 0 else x * 2
    return x
