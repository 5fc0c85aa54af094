"""Append throughput of the local (SQLite) world.

    .venv/bin/python bench/world_local.py [--steps 3000] [--runs 200]

For each synchronous mode (NORMAL, FULL) prints one JSON line per scenario:
- "sequential-3x1": one run, one task; each step is three appends of one
  event (step_created, step_started, step_completed), each awaited before the
  next: the worst case, one commit per event.
- "sequential-1x3": one run; each step is ONE append of those three events
  (one commit per step, as an eager step can write them).
- "concurrent-3x1": 200 runs, one task each, doing "3x1" at once; group
  commit merges the appends of one loop tick into one transaction.
- "sequential-round" / "concurrent-round": the runtime's own pattern, one
  append per step round (step k's step_completed, step k+1's step_created and
  step_started), with real-looking run and correlation ids; one run, then 200
  runs at once. `us_per_append` is the world's cost per round.
Figures are appends/s, events/s and the equivalent steps/s (3 events/step).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import tempfile
import time

from world_scenarios import run_steps

from wdk.runtime.instance import correlation_id
from wdk.worlds.base import NewEvent, NewRun
from wdk.worlds.local import LocalWorld


def _cid(run_id: str, n: int) -> str:
    # The runtime's own correlation ids: not in key order, so the steps rows
    # land all over their b-tree, as in real runs.
    return correlation_id(run_id, "step", n)


def _round(run_id: str, i: int) -> list[NewEvent]:
    now = time.time()
    return [
        NewEvent("step_completed", now, _cid(run_id, i - 1), {"result": i}),
        NewEvent(
            "step_created",
            now,
            _cid(run_id, i),
            {"step_id": "step//bench_flows//noop", "input": {"args": [i], "kwargs": {}}},
        ),
        NewEvent("step_started", now, _cid(run_id, i), {"attempt": 1}),
    ]


async def _rounds(world: LocalWorld, run_id: str, steps: int) -> int:
    """Like the runtime: one append per step round; returns the number of appends."""
    now = time.time()
    first = [
        NewEvent("run_started", now),
        NewEvent("step_created", now, _cid(run_id, 0), {"step_id": "s", "input": {}}),
        NewEvent("step_started", now, _cid(run_id, 0), {"attempt": 1}),
    ]
    await world.append(run_id, 0, first)
    seq = len(first)
    for i in range(1, steps + 1):
        await world.append(run_id, seq, _round(run_id, i))
        seq += 3
    return steps + 1


async def _round_scenario(synchronous: str, runs: int, steps: int) -> dict[str, object]:
    with tempfile.TemporaryDirectory() as tmp:
        world = LocalWorld(tmp, synchronous=synchronous)
        await world.open()
        ids = [f"wrun_{int(time.time() * 1000):012x}{os.urandom(10).hex()}" for _ in range(runs)]
        for run_id in ids:
            await world.create_run(NewRun(run_id, "wf", time.time(), {"input": {}}))
        started = time.perf_counter()
        counts = await asyncio.gather(*(_rounds(world, run_id, steps) for run_id in ids))
        elapsed = time.perf_counter() - started
        await world.close()
    appends = sum(counts)
    return {
        "scenario": ("sequential" if runs == 1 else "concurrent") + "-round",
        "synchronous": synchronous,
        "runs": runs,
        "steps_per_run": steps,
        "seconds": round(elapsed, 3),
        "us_per_append": round(elapsed / appends * 1e6, 1),
        "appends_per_s": round(appends / elapsed),
        "steps_per_s": round(runs * steps / elapsed),
    }


async def _scenario(
    synchronous: str, runs: int, steps: int, batched: bool = False
) -> dict[str, object]:
    with tempfile.TemporaryDirectory() as tmp:
        world = LocalWorld(tmp, synchronous=synchronous)
        await world.open()
        ids = [f"run-{n}" for n in range(runs)]
        for run_id in ids:
            await world.create_run(NewRun(run_id, "wf", time.time(), {"input": {}}))
        started = time.perf_counter()
        counts = await asyncio.gather(*(run_steps(world, run_id, steps, batched) for run_id in ids))
        elapsed = time.perf_counter() - started
        await world.close()
    appends = sum(counts)
    events = runs * (3 * steps + 1)
    return {
        "scenario": ("sequential" if runs == 1 else "concurrent") + ("-1x3" if batched else "-3x1"),
        "synchronous": synchronous,
        "runs": runs,
        "steps_per_run": steps,
        "seconds": round(elapsed, 3),
        "appends_per_s": round(appends / elapsed),
        "events_per_s": round(events / elapsed),
        "steps_per_s": round(runs * steps / elapsed),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=3000, help="steps in the sequential run")
    parser.add_argument("--runs", type=int, default=200, help="runs in the concurrent case")
    args = parser.parse_args()
    for synchronous in ("NORMAL", "FULL"):
        print(json.dumps(asyncio.run(_scenario(synchronous, 1, args.steps))))
        print(json.dumps(asyncio.run(_scenario(synchronous, 1, args.steps, batched=True))))
        per_run = max(1, args.steps // 30)
        print(json.dumps(asyncio.run(_scenario(synchronous, args.runs, per_run))))
        print(json.dumps(asyncio.run(_round_scenario(synchronous, 1, args.steps))))
        print(json.dumps(asyncio.run(_round_scenario(synchronous, args.runs, per_run))))


if __name__ == "__main__":
    main()
