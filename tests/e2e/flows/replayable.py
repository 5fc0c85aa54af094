"""Workflows whose recorded histories live in tests/histories/.

Their ids (`workflow//flows.replayable//<name>`) are in those files: renaming
or reordering the calls below is exactly the change the replay tests exist to
catch. Re-record with `.venv/bin/python scripts/record_histories.py` after an
intended change.
"""

from __future__ import annotations

import asyncio
import random
import time
from dataclasses import dataclass

from wdk import FatalError, get_step_metadata, sleep


@dataclass
class Invoice:
    customer: str
    lines: list[int]


async def fetch_price(sku: str) -> int:
    "use step"
    return 100 * len(sku)


def apply_discount(total: int, percent: int) -> int:
    "use step"
    return total - total * percent // 100


async def make_invoice(customer: str, lines: list[int]) -> Invoice:
    "use step"
    return Invoice(customer, lines)


async def send_receipt(invoice: Invoice) -> str:
    "use step"
    return f"sent {invoice.customer}:{sum(invoice.lines)}"


async def flaky_charge(amount: int) -> str:
    "use step"
    meta = get_step_metadata()
    if meta.attempt == 1:
        raise ConnectionError("payment gateway timed out")
    return f"charged {amount} on attempt {meta.attempt}"


flaky_charge.retry_delay = 0.01  # type: ignore[attr-defined]


async def reserve(sku: str) -> str:
    "use step"
    if sku == "missing":
        raise FatalError(f"{sku} is out of stock")
    return f"reserved {sku}"


async def checkout(customer: str, skus: list[str]) -> dict[str, object]:
    "use workflow"
    # Sequential steps, a sync step, a dataclass passed between steps, a
    # virtual clock read. (The dataclass comes from a step: an instance built
    # in workflow code is of the sandbox's copy of the class, which serde
    # refuses today.)
    started = time.time()
    prices = [await fetch_price(sku) for sku in skus]
    total = await apply_discount(sum(prices), 10)
    receipt = await send_receipt(await make_invoice(customer, prices))
    return {"total": total, "receipt": receipt, "elapsed_ok": time.time() >= started}


async def fan_out(skus: list[str]) -> list[int]:
    "use workflow"
    # Parallel steps with asyncio.gather, then one more.
    prices = await asyncio.gather(*(fetch_price(sku) for sku in skus))
    best = await apply_discount(max(prices), 50)
    return [*prices, best]


async def retry_and_sleep(amount: int) -> list[str]:
    "use workflow"
    # A step that fails once and retries, a durable sleep, seeded randomness.
    charged = await flaky_charge(amount)
    await sleep(0.05)
    lucky = random.randint(1, 6)
    return [charged, f"dice {lucky}"]


async def partial_failure(skus: list[str]) -> list[str]:
    "use workflow"
    # A FatalError caught in the workflow, then a failing run.
    done = []
    for sku in skus:
        try:
            done.append(await reserve(sku))
        except FatalError as exc:
            done.append(f"skipped: {exc}")
    if len(done) > 2:
        raise ValueError(f"too many items: {len(done)}")
    return done
