"""Workflows of the operability tests: a 3-step checkout whose middle step
fails once, a failing refund, a long nap, and a run that sleeps between steps."""

from __future__ import annotations

import observe_http

from wdk import FatalError, RetryableError, get_step_metadata, sleep


async def reserve(order_id: str) -> str:
    "use step"
    return f"reserved {order_id}"


async def charge(order_id: str) -> str:
    "use step"
    if get_step_metadata().attempt == 1:
        raise RetryableError("payment gateway timeout", retry_after="50ms")
    return f"charged {order_id}"


def ship(order_id: str) -> str:
    "use step"
    observe_http.post("/shipments")  # a plain def step: it runs on a step thread
    return f"shipped {order_id}"


async def checkout(order_id: str) -> list[str]:
    "use workflow"
    return [await reserve(order_id), await charge(order_id), await ship(order_id)]


async def decline(order_id: str) -> None:
    "use step"
    raise FatalError(f"card declined for {order_id}")


async def refund(order_id: str) -> None:
    "use workflow"
    await decline(order_id)


async def nap() -> None:
    "use workflow"
    await sleep("1h")


async def pause(order_id: str) -> list[str]:
    "use workflow"
    first = await reserve(order_id)
    await sleep("300ms")
    return [first, await ship(order_id)]
