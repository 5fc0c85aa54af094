"""Workflows used only by the server tests."""

from __future__ import annotations

import asyncio

from wdk import get_writable


async def produce(n: int, size: int, delay: float) -> int:
    "use step"
    out = get_writable()
    pad = "x" * size
    for i in range(n):
        await out.write({"i": i, "pad": pad})
        if delay:
            await asyncio.sleep(delay)
    await out.close()
    return n


async def chunks(n: int, size: int, delay: float) -> int:
    "use workflow"
    return await produce(n, size, delay)


async def add(a: int, b: int) -> int:
    "use step"
    return a + b


async def adder(a: int, b: int) -> int:
    "use workflow"
    return await add(a, b)


async def flaky_charge(flag: str, amount: int) -> int:
    "use step"
    from pathlib import Path

    if Path(flag).exists():
        raise RuntimeError("the card service is down")
    return amount


flaky_charge.max_retries = 0


async def charge_twice(flag: str) -> int:
    "use workflow"
    first = await add(1, 2)
    return first + await flaky_charge(flag, 10)
