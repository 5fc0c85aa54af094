"""Workflows the benchmarks run."""

from __future__ import annotations

import wdk
from wdk import sleep


async def noop(i: int) -> int:
    "use step"
    return i + 1


async def sequential(n: int) -> int:
    "use workflow"
    total = 0
    for _ in range(n):
        total = await noop(total)
    return total


async def one_step() -> int:
    "use workflow"
    return await noop(0)


async def sleepy() -> str:
    "use workflow"
    await sleep("1h")
    return "woke"


async def mark_then_wait(path: str) -> str:
    "use step"
    import asyncio
    import time

    with open(path, "a") as f:
        f.write(f"{time.time()}\n")
    await asyncio.sleep(3600)
    return "done"


async def recovery(path: str) -> str:
    "use workflow"
    return await mark_then_wait(path)


async def limited_noop(i: int) -> int:
    "use step"
    return i + 1


limited_noop.concurrency = wdk.Concurrency(10)  # type: ignore[attr-defined]


async def limited_sequential(n: int) -> int:
    "use workflow"
    total = 0
    for _ in range(n):
        total = await limited_noop(total)
    return total


async def rated_noop(i: int) -> int:
    "use step"
    return i + 1


rated_noop.rate_limit = wdk.RateLimit(5_000, per="1s")  # never binds here  # type: ignore[attr-defined]


async def rated_sequential(n: int) -> int:
    "use workflow"
    total = 0
    for _ in range(n):
        total = await rated_noop(total)
    return total


async def wide_noop(i: int) -> int:
    "use step"
    return i + 1


wide_noop.concurrency = wdk.Concurrency(1000)  # type: ignore[attr-defined]  # above the runs at once: never binds


async def wide_sequential(n: int) -> int:
    "use workflow"
    total = 0
    for _ in range(n):
        total = await wide_noop(total)
    return total
