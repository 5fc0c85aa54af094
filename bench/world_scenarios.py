"""The append patterns both world benchmarks drive (any World)."""

from __future__ import annotations

import time

from wdk.worlds.base import NewEvent, World


def step_events(i: int) -> list[NewEvent]:
    """One step's three events: created, started, completed."""
    cid, now = f"c{i}", time.time()
    return [
        NewEvent("step_created", now, cid, {"step_id": "s", "input": {"i": i}}),
        NewEvent("step_started", now, cid, {"attempt": 1}),
        NewEvent("step_completed", now, cid, {"result": i}),
    ]


async def run_steps(world: World, run_id: str, steps: int, batched: bool) -> int:
    """Run `steps` steps, as one append of three events each (`batched`) or three
    appends of one; returns the number of appends made."""
    await world.append(run_id, 0, [NewEvent("run_started", time.time())])
    seq, appends = 1, 1
    for i in range(steps):
        events = step_events(i)
        for batch in [events] if batched else [[e] for e in events]:
            await world.append(run_id, seq, batch)
            seq += len(batch)
            appends += 1
    return appends
