"""Append throughput of the postgres world.

    .venv/bin/python bench/world_postgres.py [--url URL] [--steps 1000] [--runs 200]

URL defaults to $WDK_POSTGRES_URL, else postgresql://postgres@127.0.0.1:5432/test.
Each scenario uses a fresh schema, dropped afterwards. One JSON line per scenario:
- "sequential-3x1": one run, one task; each step is three appends of one
  event (step_created, step_started, step_completed), each awaited: one
  commit (one round trip) per event.
- "sequential-1x3": one run; each step is ONE append of those three events.
- "concurrent-3x1" / "concurrent-1x3": 200 runs, one task each, at once,
  sharing the pool (`--pool` connections); the server groups their commits.
Figures are appends/s, events/s and the equivalent steps/s (3 events/step).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import time
import uuid

import asyncpg
from world_scenarios import run_steps

from wdk.worlds.base import NewRun
from wdk.worlds.postgres import PostgresWorld


async def _scenario(
    url: str, pool: int, runs: int, steps: int, batched: bool
) -> dict[str, object]:
    schema = f"wdk_bench_{uuid.uuid4().hex[:8]}"
    world = PostgresWorld(url, schema=schema, min_connections=pool, max_connections=pool)
    await world.open()
    try:
        ids = [f"run-{n}" for n in range(runs)]
        await asyncio.gather(
            *(world.create_run(NewRun(r, "wf", time.time(), {"input": {}})) for r in ids)
        )
        started = time.perf_counter()
        counts = await asyncio.gather(*(run_steps(world, r, steps, batched) for r in ids))
        elapsed = time.perf_counter() - started
    finally:
        await world.close()
        conn = await asyncpg.connect(url)
        await conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        await conn.close()
    appends = sum(counts)
    return {
        "scenario": ("sequential" if runs == 1 else "concurrent") + ("-1x3" if batched else "-3x1"),
        "runs": runs,
        "steps_per_run": steps,
        "pool": pool,
        "seconds": round(elapsed, 3),
        "appends_per_s": round(appends / elapsed),
        "events_per_s": round(runs * (3 * steps + 1) / elapsed),
        "steps_per_s": round(runs * steps / elapsed),
    }


async def _main(args: argparse.Namespace) -> None:
    for batched in (False, True):
        print(json.dumps(await _scenario(args.url, 1, 1, args.steps, batched)), flush=True)
    per_run = max(1, args.steps // 30)
    for batched in (False, True):
        result = await _scenario(args.url, args.pool, args.runs, per_run, batched)
        print(json.dumps(result), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    default_url = os.environ.get("WDK_POSTGRES_URL") or "postgresql://postgres@127.0.0.1:5432/test"
    parser.add_argument("--url", default=default_url)
    parser.add_argument("--steps", type=int, default=1000, help="steps in the sequential run")
    parser.add_argument("--runs", type=int, default=200, help="runs in the concurrent case")
    parser.add_argument("--pool", type=int, default=10, help="connections, concurrent case")
    asyncio.run(_main(parser.parse_args()))


if __name__ == "__main__":
    main()
