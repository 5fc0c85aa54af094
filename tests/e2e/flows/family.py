"""A parent run that starts a child run: the child is started from a step that
runs in the worker's own event loop (wdk.api.start inside a workflow)."""

from __future__ import annotations


async def add_one(x: int) -> int:
    "use step"
    return x + 1


async def kid(x: int) -> int:
    "use workflow"
    return await add_one(x * 10)


async def parent(x: int) -> int:
    "use workflow"
    from wdk.api import start

    run = await start(kid, x)
    return await add_one(await run.result())


def expected(x: int) -> int:
    return x * 10 + 2
