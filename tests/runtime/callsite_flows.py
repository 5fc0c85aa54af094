"""Workflows that make their calls in every shape asyncio allows; each call's
line ends with a `# <- name` marker that tests/runtime/test_callsite.py looks up."""

from __future__ import annotations

import asyncio

from wdk import create_hook


async def fetch(sku: str) -> int:
    "use step"
    return len(sku)


async def _helper(sku: str) -> int:
    return await fetch(sku)  # <- helper


async def _fan(skus: list[str]) -> list[int]:
    return list(await asyncio.gather(*(fetch(s) for s in skus)))  # <- fan


async def _hooked() -> object:
    return await create_hook(token="tok")  # <- hook


async def direct(sku: str) -> int:
    "use workflow"
    return await fetch(sku)  # <- direct


async def gathered(skus: list[str]) -> list[int]:
    "use workflow"
    return list(await asyncio.gather(*(fetch(s) for s in skus)))  # <- gathered


async def every_shape(sku: str) -> None:
    "use workflow"
    first = asyncio.create_task(fetch(sku))  # <- create_task
    helped = asyncio.ensure_future(_helper(sku))
    fanned = asyncio.create_task(_fan([sku, sku]))
    hooked = asyncio.create_task(_hooked())
    timed = asyncio.create_task(asyncio.wait_for(fetch(sku), 60))  # <- wait_for
    async with asyncio.TaskGroup() as group:
        group.create_task(fetch(sku))  # <- task_group
        group.create_task(asyncio.sleep(5))  # <- sleep
        await asyncio.gather(first, helped, fanned, hooked, timed)
