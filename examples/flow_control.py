"""Flow control and schedules, one runnable example of each (docs/flow-control.md).

    python examples/flow_control.py

- a step limited to 2 at once (`Concurrency`), and to 1 at a time per customer;
- a step limited to 5 starts a second (`RateLimit`);
- priorities: with one slot, the urgent run goes first;
- debounce: five starts within the window make one run, with the last arguments;
- a schedule that fires every second (6 fields: seconds last).
"""

from __future__ import annotations

import asyncio
import time

import wdk

RUNNING: list[int] = []  # how many `charge` steps run right now (one process here)
PEAK: list[int] = [0]


async def charge(order: int) -> str:
    "use step"
    RUNNING.append(order)
    PEAK[0] = max(PEAK[0], len(RUNNING))
    await asyncio.sleep(0.05)  # the payment API
    RUNNING.remove(order)
    return f"charged {order}"


charge.concurrency = wdk.Concurrency(2)  # type: ignore[attr-defined]  # at most 2 at once, cluster-wide


@wdk.step_options(concurrency=wdk.Concurrency(1, key=lambda customer, n: customer))  # one at a time per customer
async def sync_customer(customer: str, n: int) -> str:
    "use step"
    await asyncio.sleep(0.02)
    return f"{customer}#{n}"


@wdk.step_options(rate_limit=wdk.RateLimit(5, per="1s"))  # at most 5 starts in any second
async def call_partner(n: int) -> float:
    "use step"
    return time.time()


async def checkout(order: int) -> str:
    "use workflow"
    return await charge(order)


async def sync(customer: str, n: int) -> str:
    "use workflow"
    return await sync_customer(customer, n)


async def notify(n: int) -> float:
    "use workflow"
    return await call_partner(n)


ORDER: list[str] = []
QUEUED = asyncio.Event()  # set once the other two runs wait for the slot (this demo only)


@wdk.step_options(concurrency=wdk.Concurrency(1))
async def export(name: str) -> str:
    "use step"
    ORDER.append(name)
    if name == "first":
        await QUEUED.wait()  # hold the one slot until the others queue behind it
    return name


async def report(name: str) -> str:
    "use workflow"
    return await export(name)


async def reindex(version: str) -> str:
    "use workflow"
    return f"reindexed with {version}"


async def heartbeat() -> str:
    "use workflow"
    return "beat"


# A module-level declaration: every worker / serve / dev process importing this
# module fires it (here: the embedded runtime of this script). One run per tick.
HEARTBEAT = wdk.schedule(heartbeat, cron="* * * * * *", overlap="skip")


async def main() -> None:
    import tempfile

    from wdk.api import configure, start, start_with

    configure(data_dir=tempfile.mkdtemp(prefix="wdk-flow-"))

    runs = [await start(checkout, i) for i in range(8)]
    print("result:", [await r.result() for r in runs][:3], "... peak at once:", PEAK[0])

    runs = [await start(sync, c, i) for i in range(3) for c in ("acme", "globex")]
    print("result:", sorted([await r.result() for r in runs]))

    runs = [await start(notify, i) for i in range(12)]
    stamps = sorted([await r.result() for r in runs])
    print("result: 12 calls took", round(stamps[-1] - stamps[0], 1), "s (5 a second)")

    first = await start(report, "first")  # holds the one slot while the others queue
    while not ORDER:  # its step has the slot
        await asyncio.sleep(0.01)
    later = [await start_with(priority=p)(report, name) for p, name in ((1, "normal"), (10, "urgent"))]
    await asyncio.sleep(0.3)  # both reach the slot and wait (a few loop turns; generous on a loaded machine)
    QUEUED.set()
    await asyncio.gather(first.result(), *(r.result() for r in later))
    print("result: order", ORDER)

    debounced = [await start_with(debounce=("2s", "index"))(reindex, f"v{i}") for i in range(5)]
    print("result:", len({r.id for r in debounced}), "run:", await debounced[0].result())

    await asyncio.sleep(2.5)  # the heartbeat schedule fires every second meanwhile
    from wdk.runtime.engine import get_runtime

    world = (await get_runtime()).world
    beats = (await world.list_runs(workflow_id=HEARTBEAT.workflow_id)).items
    print("result: heartbeat runs so far:", len(beats) >= 2)


if __name__ == "__main__":
    asyncio.run(main())
