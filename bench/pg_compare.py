"""wdk's side of `bench/vs_dbos.py` on PostgreSQL. Prints one JSON line.

    .venv/bin/python bench/pg_compare.py --url URL [--workers 2] [--sizes JSON]

(a) one workflow of `seq` sequential steps, advanced by `--workers` `wdk
    worker` processes: this process starts it client-only and polls the runs
    table (every 10 ms: under 1.5% of a run that takes 0.7 s or more) for its end
(b) `many` workflows x 10 steps started before awaiting, (c) median ms of a
    1-step workflow: the embedded runtime (start -> result in one process)
Each part in a fresh schema, dropped afterwards.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import time
from pathlib import Path

import asyncpg

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from postgres import fresh_schema, workers  # noqa: E402


async def _until_done(url: str, schema: str, run_id: str) -> None:
    conn = await asyncpg.connect(url, server_settings={"search_path": schema})
    try:
        while await conn.fetchval("SELECT status FROM runs WHERE id = $1", run_id) != "completed":
            await asyncio.sleep(0.01)
    finally:
        await conn.close()


async def _sequential(url: str, schema: str, n: int) -> float:
    from bench_flows import sequential

    from wdk.api import start
    from wdk.runtime.engine import get_runtime

    await get_runtime(consume=False)
    await _until_done(url, schema, (await start(sequential, 20)).id)  # warm up the workers
    t0 = time.perf_counter()
    await _until_done(url, schema, (await start(sequential, n)).id)
    return time.perf_counter() - t0


def part_a(url: str, n_workers: int, n: int) -> float:
    from wdk.runtime import config

    with fresh_schema(url) as schema:
        env = {**os.environ, "WDK_POSTGRES_URL": url, "WDK_POSTGRES_SCHEMA": schema}
        config.reset()
        config.configure(world="postgres", url=url, schema=schema, worker=False)
        asyncio.run(_open_schema())  # migrate once, before the workers race to
        with workers(n_workers, env):
            seconds = asyncio.run(_sequential(url, schema, n))
    return round(n / seconds)


async def _open_schema() -> None:
    from wdk.runtime.engine import get_runtime, shutdown_runtime

    await get_runtime(consume=False)
    await shutdown_runtime()


async def _embedded(sizes: dict[str, int]) -> dict[str, float]:
    from bench_flows import one_step, sequential
    from throughput import _seq

    from wdk.api import start

    await _seq(20)  # warm up: compile, sandbox, connections
    runs = sizes["many"]
    t0 = time.perf_counter()
    handles = [await start(sequential, 10) for _ in range(runs)]
    for h in handles:
        await h.result()
    out: dict[str, float] = {"b_workflows_per_s": round(runs / (time.perf_counter() - t0), 1)}
    lat = []
    for _ in range(sizes["latency"]):
        t0 = time.perf_counter()
        await (await start(one_step)).result()
        lat.append((time.perf_counter() - t0) * 1000)
    out["c_one_step_median_ms"] = round(statistics.median(lat), 3)
    return out


def parts_bc(url: str, sizes: dict[str, int]) -> dict[str, float]:
    from wdk.runtime import config

    with fresh_schema(url) as schema:
        config.reset()
        config.configure(world="postgres", url=url, schema=schema, worker=True)
        return asyncio.run(_embedded(sizes))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", default=os.environ.get("WDK_POSTGRES_URL") or "postgresql://postgres@127.0.0.1:5432/test")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--sizes", default='{"seq": 1000, "many": 200, "latency": 200}')
    args = parser.parse_args()
    sizes = json.loads(args.sizes)
    out = {"a_steps_per_s": part_a(args.url, args.workers, sizes["seq"]), **parts_bc(args.url, sizes)}
    print(json.dumps(out), flush=True)


if __name__ == "__main__":
    main()
