"""A gate a step waits at until the test opens it (a plain module: the
flows' step code and the test share this one)."""

from __future__ import annotations

import asyncio

GATE: asyncio.Event | None = None


async def wait() -> None:
    assert GATE is not None, "the test sets web_gate.GATE first"
    await GATE.wait()
