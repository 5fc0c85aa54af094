"""Every function shape wdk runs, and the hook/stream/metadata helpers, in one script.

    python examples/shapes.py

Each section of docs/guide.md ("Methods, classes and nested steps", "Step
functions as values", "Metadata, hooks and streams, health") points here.
Nothing to set up: the local world goes to a temporary folder.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from wdk import create_hook, create_webhook, get_workflow_metadata, get_writable
from wdk.runtime.serde import register_type

# --- methods as steps; a class that holds workflows ------------------------------


@dataclass
class Cart:
    items: list[int]

    async def total(self, tax: int = 0) -> int:
        "use step"
        return sum(self.items) + tax  # `self` travelled here: Cart is a dataclass


class Pricing:
    RATE = 3

    @staticmethod
    async def fee(amount: int) -> int:
        "use step"
        return amount + 1

    @classmethod
    async def scaled(cls, amount: int) -> int:
        "use step"
        return amount * cls.RATE

    @classmethod
    async def quote(cls, items: list[int]) -> int:
        "use workflow"
        subtotal = await Cart(items).total(tax=2)
        return await cls.scaled(await cls.fee(subtotal))


# --- steps nested in a workflow --------------------------------------------------


async def greet_all(names: list[str]) -> list[str]:
    "use workflow"
    greeting = "hello"

    async def greet(name: str) -> str:
        "use step"
        return f"{greeting}, {name}"  # `greeting` is captured: it travels with the call

    return [await greet(n) for n in names]


# --- register_type() at module level ------------------------------------------------


class Money:
    def __init__(self, cents: int) -> None:
        self.cents = cents

    def __repr__(self) -> str:
        return f"Money({self.cents})"


register_type(Money, lambda m: m.cents, Money, name="example:Money")


async def double_money(m: Money) -> Money:
    "use step"
    return Money(m.cents * 2)


async def money_flow(cents: int) -> Money:
    "use workflow"
    return await double_money(Money(cents))


# --- step functions as values ------------------------------------------------------


async def apply_twice(fn: Callable[[int], Awaitable[int]], x: int) -> int:
    "use step"
    return await fn(await fn(x))  # in a step, a step reference runs directly


async def pick(name: str) -> Callable[[int], Awaitable[int]]:
    "use step"
    return {"fee": Pricing.fee, "scaled": Pricing.scaled}[name]


async def refs(x: int) -> list[int]:
    "use workflow"
    chosen = await pick("scaled")  # a step returned a step: calling it here is a step
    return [await apply_twice(Pricing.fee, x), await chosen(x)]


# --- metadata, streams, hooks ---------------------------------------------------


async def who_runs_me() -> str:
    "use step"
    meta = get_workflow_metadata()  # inside a step too
    return f"{meta.workflow_id.rsplit('//', 1)[-1]} in {meta.run_id[:12]}..."


async def progress(n: int) -> None:
    "use step"
    out = get_writable()
    for i in range(n):
        await out.write({"done": i + 1, "of": n})
    await out.close()


async def report(n: int) -> str:
    "use workflow"
    await progress(n)
    return await who_runs_me()


async def review(token: str) -> list[object]:
    "use workflow"
    hook = create_hook(token)
    first = await hook
    hook.dispose()  # no more payloads; the run goes on
    webhook = create_webhook(token=f"{token}-web")  # a token of our choosing
    request = await webhook
    return [first, request.json()]


async def main() -> None:
    import tempfile

    from wdk.api import configure, get_hook, resume_hook, resume_webhook, start
    from wdk.runtime.engine import get_runtime, shutdown_runtime
    from wdk.runtime.health import check_health
    from wdk.runtime.webhooks import WebhookRequest

    configure(data_dir=tempfile.mkdtemp(prefix="wdk-shapes-"))
    try:
        flows: list[tuple[Callable[..., Awaitable[Any]], tuple[Any, ...]]] = [
            (Pricing.quote, ([1, 2],)),
            (greet_all, (["ada", "bo"],)),
            (money_flow, (150,)),
            (refs, (5,)),
        ]
        for workflow, args in flows:
            run = await start(workflow, *args)
            result = await run.result(timeout=30)
            steps = [e.payload["step_id"].split("//")[-1] for e in await run.events() if e.type == "step_created"]
            print(f"result: {workflow.__qualname__} -> {result!r}")
            print(f"  steps: {', '.join(steps)}")

        run = await start(report, 4)
        print(f"result: report -> {await run.result(timeout=30)!r}")
        print(f"  stream tail index: {await run.stream_tail_index()}")
        print(f"  last chunk: {[c async for c in run.stream(start=-1)]}")

        run = await start(review, "doc-7")
        while True:
            try:
                info = await get_hook("doc-7")
                break
            except Exception:
                await asyncio.sleep(0.01)
        print(f"  hook doc-7: run {info.run_id[:12]}..., open={info.open}")
        await resume_hook("doc-7", {"approved": True})
        while True:
            try:
                reply = await resume_webhook("doc-7-web", WebhookRequest.make("POST", body={"note": "ok"}))
                break
            except Exception:
                await asyncio.sleep(0.01)
        print(f"  webhook reply: HTTP {reply.status}")
        print(f"result: review -> {await run.result(timeout=30)!r}")
        print(f"  doc-7 open now: {(await get_hook('doc-7')).open}")
        health = await check_health(await get_runtime())
        print(f"  health: {health.to_json()['status']}")
    finally:
        await shutdown_runtime()


if __name__ == "__main__":
    asyncio.run(main())
