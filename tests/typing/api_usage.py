"""Checked with `mypy --strict` (scripts/test.sh, tests/test_typing.py): the
public API as users type it. `assert_type` pins what mypy infers."""

from __future__ import annotations

from datetime import timedelta
from typing import Any, assert_type

from wdk import (
    Concurrency,
    FatalError,
    RateLimit,
    RetryableError,
    create_hook,
    create_webhook,
    get_step_metadata,
    get_workflow_metadata,
    schedule,
    sleep,
    step_options,
)
from wdk.api import HookInfo, Run, get_hook, get_run, run_sync, start, start_with


@step_options(max_retries=5, retry_delay="2s", timeout=timedelta(seconds=30))
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
    hook.dispose()
    webhook = create_webhook(token=f"order-{order_id}")
    url: str = webhook.url
    run_id: str = get_workflow_metadata().run_id
    return await charge(order_id, len(token) + len(url) + len(run_id))


async def client() -> None:
    run: Run[str] = await start_with(idempotency_key="o1")(checkout, "o1")
    status: str = await run.status()
    result: str = await run.result(timeout=10.0)
    same: Run[Any] = get_run(run.id)
    plain: Run[str] = await start(checkout, "o2")
    by_id: Run[Any] = await start("workflow//api_usage//checkout", "o3")
    assert_type(await start(checkout, order_id="o4"), Run[str])
    assert_type(await plain.result(), str)
    assert_type(await by_id.result(), Any)
    assert_type(await charge("o5", 3), str)  # a step stays a plain function
    tail: int = await same.stream_tail_index()
    last = [chunk async for chunk in same.stream(start=-1)]
    info: HookInfo = await get_hook("order-o1")
    still_open: bool = info.open
    created: float = info.created_at
    await same.cancel()
    assert_type(await plain.rerun(from_step=2), Run[str])  # the rerun returns what the workflow returns
    await plain.retry()
    print(status, result, tail, last, still_open, created, info.run_id, plain, by_id)


@step_options(timeout="1m")
def export(order_id: str) -> bytes:
    "use step"
    return order_id.encode()


@step_options(concurrency=Concurrency(5), rate_limit=RateLimit(100, per="1m"))
async def call_api(customer: str) -> None:
    "use step"


@step_options(concurrency=[Concurrency(50), Concurrency(1, key=lambda customer: customer)])
async def sync_customer(customer: str) -> None:
    "use step"


nightly = schedule(checkout, cron="0 3 * * *", tz="Europe/Paris", overlap="buffer_one", catchup=2)


async def flow_control() -> None:
    urgent: Run[str] = await start_with(priority=10)(checkout, "o9")
    once: Run[str] = await start_with(debounce=("30s", "o10"))(checkout, "o10")
    print(urgent, once, nightly.name)


def script() -> None:
    assert_type(run_sync(checkout, "o6"), str)
    assert_type(run_sync("workflow//api_usage//checkout", "o7"), Any)
    assert_type(export("o8"), bytes)
