"""Workflows used by the end-to-end tests."""

from __future__ import annotations

import asyncio
import random
import threading
import time
from dataclasses import dataclass

from wdk import (
    FatalError,
    RetryableError,
    SerializationError,
    get_step_metadata,
    get_workflow_metadata,
    sleep,
    step_options,
)

CALLS: dict[str, int] = {}


def _count(name: str) -> None:
    CALLS[name] = CALLS.get(name, 0) + 1


@dataclass
class Order:
    id: str
    items: list[str]


async def add(a: int, b: int) -> int:
    "use step"
    _count("add")
    return a + b


def double(x: int) -> int:
    "use step"
    _count("double")
    return 2 * x


async def three_steps(x: int) -> int:
    "use workflow"
    a = await add(x, 1)
    b = await double(a)
    return await add(b, 10)


async def parallel(n: int) -> list[int]:
    "use workflow"
    return list(await asyncio.gather(*(add(i, i) for i in range(n))))


async def flaky(times: int) -> int:
    "use step"
    meta = get_step_metadata()
    _count("flaky")
    if meta.attempt <= times:
        raise ConnectionError(f"attempt {meta.attempt} failed")
    return meta.attempt


flaky.retry_delay = 0.01  # type: ignore[attr-defined]


async def retrying(times: int) -> int:
    "use workflow"
    return await flaky(times)


async def fatal() -> None:
    "use step"
    _count("fatal")
    raise FatalError("card declined")


async def fails_fatally() -> None:
    "use workflow"
    await fatal()


async def always_fails() -> None:
    "use step"
    raise ValueError("bad input")


always_fails.max_retries = 1  # type: ignore[attr-defined]
always_fails.retry_delay = 0.01  # type: ignore[attr-defined]


@step_options(max_retries=2, retry_delay="10ms")
async def fails_with_typed_policy() -> None:
    "use step"
    raise ValueError(f"attempt {get_step_metadata().attempt}")


@step_options(timeout="50ms", max_retries=0)
def slow_plain_step() -> str:
    "use step"
    time.sleep(2)
    return "late"


async def typed_policies() -> list[str]:
    "use workflow"
    out = []
    for step in (fails_with_typed_policy, slow_plain_step):
        try:
            await step()
        except (ValueError, TimeoutError) as exc:
            out.append(f"{type(exc).__name__}: {exc}")
    return out


async def catches() -> str:
    "use workflow"
    try:
        await always_fails()
    except ValueError as exc:
        return f"caught {type(exc).__name__}: {exc}"
    return "not raised"


async def retry_after_step() -> int:
    "use step"
    meta = get_step_metadata()
    if meta.attempt == 1:
        raise RetryableError("busy", retry_after=0.05)
    return meta.attempt


async def uses_retry_after() -> int:
    "use workflow"
    return await retry_after_step()


async def sleeper(seconds: float) -> float:
    "use workflow"
    t0 = time.time()
    await sleep(seconds)
    return time.time() - t0


async def asyncio_sleeper() -> str:
    "use workflow"
    await asyncio.sleep(0.05)
    return "woke"


async def slow_step(seconds: float) -> str:
    "use step"
    await asyncio.sleep(seconds)
    return "done"


async def long_running() -> str:
    "use workflow"
    return await slow_step(30)


async def sleeps_long() -> str:
    "use workflow"
    await sleep("1h")
    return "never"


async def echo_order(order: Order) -> Order:
    "use step"
    return Order(order.id.upper(), [*order.items, "gift"])


async def order_flow(order: Order) -> Order:
    "use workflow"
    return await echo_order(order)


async def metadata_step() -> dict[str, object]:
    "use step"
    meta = get_step_metadata()
    return {"attempt": meta.attempt, "corr": meta.correlation_id, "key": meta.idempotency_key}


async def metadata_flow() -> dict[str, object]:
    "use workflow"
    wf = get_workflow_metadata()
    step = await metadata_step()
    return {"run_id": wf.run_id, "step": step}


async def deterministic() -> list[float]:
    "use workflow"
    before = [time.time(), random.random()]
    await add(1, 2)
    return [*before, time.time(), random.random()]


async def timeout_step() -> str:
    "use step"
    await asyncio.sleep(5)
    return "late"


timeout_step.timeout = 0.05  # type: ignore[attr-defined]
timeout_step.max_retries = 0  # type: ignore[attr-defined]


async def times_out() -> str:
    "use workflow"
    return await timeout_step()


async def wait_for_timeout() -> str:
    "use workflow"
    try:
        await asyncio.wait_for(slow_step(0.01), 3600)
    except TimeoutError:
        return "timeout"
    return "in time"


async def nested(x: int) -> int:
    "use workflow"
    factor = 3

    async def scale(y: int) -> int:
        "use step"
        return y * factor

    return await scale(x)


async def child(x: int) -> int:
    "use workflow"
    return await add(x, 100)


async def failing_child() -> None:
    "use workflow"
    await fatal()


async def parent(x: int) -> list[object]:
    "use workflow"
    from wdk.api import start

    run = await start(child, x)
    out: list[object] = [await run.result()]
    bad = await start(failing_child)
    try:
        await bad.result()
    except Exception as exc:  # a WorkflowFailed
        out.append(type(exc).__name__)
    return out


async def does_io() -> None:
    "use workflow"
    import shutil

    shutil.rmtree("/tmp/definitely-not-here")  # not a name the compiler forbids: the sandbox stops it


async def builds_dataclass(order_id: str) -> Order:
    "use workflow"
    order = Order(order_id, ["a"])  # made by workflow code, sent to a step, and back
    back = await echo_order(order)
    assert isinstance(back, Order)
    return back


async def unstorable() -> dict[str, object]:
    "use step"
    return {"lock": threading.Lock()}


async def returns_unstorable() -> list[str]:
    "use workflow"
    try:
        await unstorable()
    except SerializationError as exc:
        return [type(exc).__name__, str(exc), exc.path]
    return []


async def one_step(a: int, b: int) -> int:
    "use workflow"
    return await add(a, b)
