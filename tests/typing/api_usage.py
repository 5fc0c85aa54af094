"""Checked with `mypy --strict` by scripts/test.sh: the public API as users type it."""

from __future__ import annotations

from datetime import timedelta

from wdk import FatalError, RetryableError, create_hook, get_step_metadata, sleep
from wdk.api import Run, get_run, start


async def charge(order_id: str, amount: int) -> str:
    "use step"
    meta = get_step_metadata()
    attempt: int = meta.attempt
    key: str = meta.idempotency_key
    if amount < 0:
        raise FatalError("negative amount")
    if attempt == 1:
        raise RetryableError("busy", retry_after="5s")
    return f"{order_id}:{key}"


async def checkout(order_id: str) -> str:
    "use workflow"
    await sleep("1h")
    await sleep(timedelta(minutes=5))
    hook = create_hook()
    token: str = hook.token
    await hook
    return await charge(order_id, len(token))


async def client() -> None:
    run: Run = await start(checkout, "o1", idempotency_key="o1")
    status: str = await run.status()
    result = await run.result(timeout=10.0)
    same: Run = get_run(run.id)
    await same.cancel()
    print(status, result)
