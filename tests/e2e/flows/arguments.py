"""Workflows for the argument checks of `start()` (tests/e2e/test_start_arguments.py)."""

from __future__ import annotations

from wdk.api import start


async def label(order_id: str, qty: int, express: bool) -> str:
    "use step"
    return f"{order_id} x{qty}{' express' if express else ''}"


async def process_order(order_id: str, qty: int, *, express: bool = False) -> str:
    "use workflow"
    return await label(order_id, qty, express)


async def starts_child_badly(by: str) -> str:
    "use workflow"
    try:
        if by == "function":
            await start(process_order, "o1")  # qty is missing
        else:
            await start("workflow//flows.arguments//process_order", "o1", 2, rush=True)
    except TypeError as exc:  # raised in this workflow, where start() was called
        return f"{type(exc).__name__}: {exc}"
    return "started"


async def keyed(idempotency_key: str) -> str:
    "use workflow"
    return f"its own argument: {idempotency_key}"
