"""Workflows that stream output."""

from __future__ import annotations

import asyncio

from wdk import Writable, get_writable


async def produce(n: int, delay: float) -> int:
    "use step"
    out = get_writable()
    for i in range(n):
        await out.write({"i": i})
        if delay:
            await asyncio.sleep(delay)
    await out.close()
    return n


async def tokens(n: int, delay: float) -> int:
    "use workflow"
    return await produce(n, delay)


async def write_to(out: Writable, words: list[str]) -> None:
    "use step"
    for w in words:
        await out.write(w)
    await out.close()


async def passes_writer(words: list[str]) -> str:
    "use workflow"
    out = get_writable("words")
    await write_to(out, words)
    return "ok"
