"""Plain-def steps that hang until released, with timeouts.

`RELEASE` is set by the test that uses `three_hung_then_one` (steps run in the
test's own process); `NEVER` is never set (`hung_forever` runs in a worker
subprocess that is then stopped)."""

from __future__ import annotations

import asyncio
import threading

RELEASE = threading.Event()
NEVER = threading.Event()


def hang(i: int) -> int:
    "use step"
    RELEASE.wait()
    return i


hang.timeout = "0.2s"  # type: ignore[attr-defined]
hang.max_retries = 0  # type: ignore[attr-defined]


def plain(x: int) -> int:
    "use step"
    return x + 1


async def three_hung_then_one(x: int) -> list[object]:
    "use workflow"
    hung = await asyncio.gather(hang(1), hang(2), hang(3), return_exceptions=True)
    return [type(e).__name__ for e in hung] + [await plain(x)]


def stuck() -> None:
    "use step"
    NEVER.wait()


stuck.timeout = "0.2s"  # type: ignore[attr-defined]
stuck.max_retries = 1000  # type: ignore[attr-defined]
stuck.retry_delay = 0.05  # type: ignore[attr-defined]


async def hung_forever() -> None:
    "use workflow"
    await stuck()
