"""Workflows the web UI tests look at: one of each shape a run page draws."""

from __future__ import annotations

from wdk import FatalError, get_step_metadata, get_writable, sleep


async def reserve(order_id: str) -> str:
    "use step"
    return f"reservation-{order_id}"


async def charge(order_id: str) -> dict[str, object]:
    "use step"
    attempt = get_step_metadata().attempt
    if attempt < 3:
        raise ConnectionError(f"payment gateway timeout (attempt {attempt})")
    return {"order": order_id, "charged": 42.5}


charge.retry_delay = 0.01  # type: ignore[attr-defined]


async def ship(order_id: str) -> str:
    "use step"
    out = get_writable()
    for stage in ("packed", "labelled", "shipped"):
        await out.write({"order": order_id, "stage": stage})
    await out.close()
    return f"tracking-{order_id}"


async def checkout(order_id: str) -> dict[str, object]:
    "use workflow"
    reservation = await reserve(order_id)
    payment = await charge(order_id)
    await sleep(0.05)
    tracking = await ship(order_id)
    return {"reservation": reservation, "payment": payment, "tracking": tracking}


async def refund(order_id: str) -> None:
    "use step"
    raise FatalError(f"card declined for {order_id}")


async def refund_order(order_id: str) -> None:
    "use workflow"
    await reserve(order_id)
    await refund(order_id)


async def nap() -> str:
    "use workflow"
    await sleep("1h")
    return "rested"


async def wait_at_gate() -> str:
    "use step"
    import web_gate

    await web_gate.wait()
    return "through"


async def held() -> str:
    "use workflow"
    return await wait_at_gate()
