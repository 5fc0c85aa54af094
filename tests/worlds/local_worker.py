"""Code run in child processes by test_local_only.py (spawn needs it importable)."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
from typing import Any

from wdk.worlds.local import LocalWorld


def drain(data_dir: str, name: str, start: Any, results: Any) -> None:
    """Lease from "jobs" until it is empty; report (name, keys processed)."""
    start.wait(30)
    results.put((name, asyncio.run(_drain(data_dir, name))))


async def _drain(data_dir: str, name: str) -> list[str]:
    world = LocalWorld(data_dir)
    await world.open()
    me = f"{socket.gethostname()}:{os.getpid()}:{name}"
    done: list[str] = []
    try:
        while await world.next_available_at("jobs") is not None:
            leases = await world.lease("jobs", me, limit=3, lease_for=60)
            if not leases:
                await asyncio.sleep(0.002)
                continue
            for lease in leases:
                done.append(lease.key)
                await asyncio.sleep(0.001)  # "work", so the two processes interleave
                await world.ack(lease)
    finally:
        await world.close()
    return done


def lease_then_die(data_dir: str) -> None:
    """Lease the one "jobs" message for 5 minutes, then die like `kill -9`."""

    async def take() -> None:
        world = LocalWorld(data_dir)
        await world.open()
        leases = await world.lease("jobs", f"{socket.gethostname()}:{os.getpid()}:w", lease_for=300)
        assert len(leases) == 1

    asyncio.run(take())
    os.kill(os.getpid(), signal.SIGKILL)
