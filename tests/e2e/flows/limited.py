"""Steps under flow control, for tests/e2e/test_flow_control.py. Each step
returns (and, with $LEDGER_PATH, logs) when it ran: wall-clock start and end,
and its pid, so a test can measure how many ran at once."""

from __future__ import annotations

import asyncio
import json
import os
import time
from typing import Any

import wdk

NAP = 0.02


def _log(record: dict[str, Any]) -> None:
    path = os.environ.get("LEDGER_PATH")
    if path:
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, (json.dumps(record) + "\n").encode())
        finally:
            os.close(fd)


async def _timed(tag: Any, nap: float) -> dict[str, Any]:
    meta = wdk.get_step_metadata()
    t0 = time.time()
    _log({"ev": "start", "run": meta.run_id, "pid": os.getpid(), "t": t0, "tag": tag})
    await asyncio.sleep(nap)
    t1 = time.time()
    _log({"ev": "end", "run": meta.run_id, "pid": os.getpid(), "t": t1, "tag": tag})
    return {"t0": t0, "t1": t1, "pid": os.getpid(), "tag": tag}


async def three_at_once(i: int, nap: float = NAP) -> dict[str, Any]:
    "use step"
    return await _timed(i, nap)


three_at_once.concurrency = wdk.Concurrency(3)  # type: ignore[attr-defined]


async def one_per_key(i: int, key: str) -> dict[str, Any]:
    "use step"
    return await _timed(key, NAP)


one_per_key.concurrency = wdk.Concurrency(1, key=lambda i, key: key)  # type: ignore[attr-defined]


@wdk.step_options(rate_limit=wdk.RateLimit(10, per="1s"))
async def ten_a_second(i: int) -> dict[str, Any]:
    "use step"
    return await _timed(i, 0.0)


async def one_at_a_time(i: int, nap: float = NAP) -> dict[str, Any]:
    "use step"
    return await _timed(i, nap)


one_at_a_time.concurrency = wdk.Concurrency(1)  # type: ignore[attr-defined]


async def limited(i: int, nap: float = NAP) -> dict[str, Any]:
    "use workflow"
    return await three_at_once(i, nap)


async def keyed(i: int, key: str) -> dict[str, Any]:
    "use workflow"
    return await one_per_key(i, key)


async def rated(i: int) -> dict[str, Any]:
    "use workflow"
    return await ten_a_second(i)


async def serial(i: int, nap: float = NAP) -> dict[str, Any]:
    "use workflow"
    return await one_at_a_time(i, nap)


async def hooked(token: str) -> dict[str, Any]:
    "use workflow"
    await wdk.create_hook(token)
    return await step_a("hooked")


async def plain(i: int) -> dict[str, Any]:
    "use workflow"
    return await step_a(i)


async def in_line(tag: str, gate: str = "") -> dict[str, Any]:
    "use step"
    while gate and not os.path.exists(gate):  # holds the slot until the test opens the gate
        await asyncio.sleep(0.01)
    return await _timed(tag, NAP)


in_line.concurrency = wdk.Concurrency(1)  # type: ignore[attr-defined]


async def queued(tag: str, gate: str = "") -> dict[str, Any]:
    "use workflow"
    return await in_line(tag, gate)


async def echo(value: str) -> str:
    "use workflow"
    return value


async def one_run_at_once(i: int) -> list[dict[str, Any]]:
    "use workflow"
    first = await step_a(i)
    await wdk.sleep(0.3)  # asleep: holds no slot, another run goes meanwhile
    return [first, await step_a(i)]


one_run_at_once.concurrency = wdk.Concurrency(1)  # type: ignore[attr-defined]


async def step_a(i: int) -> dict[str, Any]:
    "use step"
    return await _timed(i, NAP)


def max_overlap(spans: list[tuple[float, float]]) -> int:
    """The most spans (start, end) open at one instant."""
    points = sorted([(t0, 1) for t0, _ in spans] + [(t1, -1) for _, t1 in spans], key=lambda p: (p[0], p[1]))
    best = now = 0
    for _, d in points:
        now += d
        best = max(best, now)
    return best


async def two_an_hour(i: int) -> list[dict[str, Any]]:
    "use workflow"
    first = await step_a(i)
    await wdk.sleep(0.05)  # its wake-up takes no token: the run starts once
    return [first, await step_a(i)]


two_an_hour.rate_limit = wdk.RateLimit(2, per="1h")  # type: ignore[attr-defined]
