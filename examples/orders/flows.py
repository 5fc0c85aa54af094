"""An order pipeline: parallel checks, a flaky payment API, a durable sleep,
and a packing step that (in the demo) kills its own process."""

from __future__ import annotations

import asyncio
import os
import signal
from pathlib import Path

from wdk import get_step_metadata, sleep, step_options


async def process_order(order_id: str, items: list[str]) -> dict[str, object]:
    "use workflow"
    # Two independent checks run in parallel.
    in_stock, risk = await asyncio.gather(check_stock(items), fraud_score(order_id))
    if not in_stock:
        return {"order": order_id, "status": "out of stock"}
    receipt = await charge_card(order_id, 10 * len(items), risk)
    await sleep("2s")  # durable: a crash here loses nothing
    box = await pack_box(order_id, items)
    tracking = await ship(order_id, box)
    return {"order": order_id, "status": "shipped", "receipt": receipt, "tracking": tracking}


async def check_stock(items: list[str]) -> bool:
    "use step"
    await asyncio.sleep(0.3)
    return all(item != "unicorn" for item in items)


async def fraud_score(order_id: str) -> float:
    "use step"
    await asyncio.sleep(0.3)
    return 0.02


@step_options(retry_delay="500ms")
async def charge_card(order_id: str, amount: int, risk: float) -> str:
    "use step"
    meta = get_step_metadata()
    await asyncio.sleep(0.2)
    if meta.attempt == 1:
        # A flaky payment API: the first attempt times out, the retry succeeds.
        raise ConnectionError("payment gateway timed out")
    # The idempotency key is the same on every attempt of this step.
    return f"rcpt-{meta.idempotency_key[-8:]}-{amount}"



async def pack_box(order_id: str, items: list[str]) -> str:
    "use step"
    await asyncio.sleep(0.3)
    marker = os.environ.get("DEMO_CRASH_MARKER")
    if marker and not Path(marker).exists():
        Path(marker).write_text("crashed once")
        os.kill(os.getpid(), signal.SIGKILL)  # as if the machine died
    return f"box-{len(items)}"


def ship(order_id: str, box: str) -> str:
    "use step"
    # A plain `def` step runs on a worker thread.
    return f"TRACK-{order_id.upper()}-{box}"
