"""Scale-out on PostgreSQL: 1,000 runs x 10 steps advanced by 1, 2 and 4 `wdk
worker` processes, with the CPU each side spends per step. Prints one JSON line.

    .venv/bin/python bench/pg_scale.py [--url URL] [--workers 1,2,4] [--runs 1000]

This machine has 2 cores shared by the workers, the database server and this
process, so wall-clock scaling past 2 workers measures the machine, not wdk.
What the script measures instead, per worker count:

- steps/s (wall clock, from the first start to the last completion)
- worker_cpu_us_per_step: CPU (user + system) of all workers / steps
- server_cpu_us_per_step: CPU of the database backends serving this schema
  (found by application_name in pg_stat_activity, read from /proc) / steps

and extrapolates: with one core per worker and the server on cores of its
own, N workers do N / worker_cpu_per_step steps/s until the server's cores
are used up (server_cores_needed = steps/s x server_cpu_per_step). `scale_4`
is that extrapolated 4-worker throughput over the measured 1-worker CPU
bound, i.e. 4 when the per-step CPU does not grow with the worker count.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
from pathlib import Path

import asyncpg

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from postgres import fresh_schema, workers  # noqa: E402

STEPS = 10
TICK = os.sysconf("SC_CLK_TCK")


def _cpu_seconds(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / TICK  # utime, stime


async def _backends(conn: asyncpg.Connection, schema: str) -> list[int]:
    rows = await conn.fetch("SELECT pid FROM pg_stat_activity WHERE application_name = $1", f"wdk {schema}")
    return [r[0] for r in rows]


async def _round(url: str, schema: str, runs: int, worker_pids: list[int]) -> dict[str, float]:
    from bench_flows import sequential

    from wdk.api import start

    conn = await asyncpg.connect(url, server_settings={"search_path": schema})
    try:
        backends = await _backends(conn, schema)
        w0 = sum(_cpu_seconds(p) for p in worker_pids)
        s0 = {p: _cpu_seconds(p) for p in backends}
        t0 = time.perf_counter()
        handles = await asyncio.gather(*(start(sequential, STEPS) for _ in range(runs)))
        ids = [h.id for h in handles]
        while await conn.fetchval(
            "SELECT count(*) FROM runs WHERE id = ANY($1) AND status = 'completed'", ids
        ) < runs:
            await asyncio.sleep(0.02)
        seconds = time.perf_counter() - t0
        worker_cpu = sum(_cpu_seconds(p) for p in worker_pids) - w0
        server_cpu = sum(_cpu_seconds(p) - s0.get(p, 0.0) for p in await _backends(conn, schema))
    finally:
        await conn.close()
    steps = runs * STEPS
    return {
        "steps_per_s": round(steps / seconds),
        "worker_cpu_us_per_step": round(worker_cpu / steps * 1e6, 1),
        "server_cpu_us_per_step": round(server_cpu / steps * 1e6, 1),
    }


async def _measure(url: str, schema: str, runs: int, worker_pids: list[int]) -> dict[str, float]:
    from wdk.runtime.engine import get_runtime

    await get_runtime(consume=False)
    await _round(url, schema, 50, worker_pids)  # warm up: imports, compile, connections
    return await _round(url, schema, runs, worker_pids)


def measure(url: str, n: int, runs: int) -> dict[str, float]:
    from wdk.runtime import config

    with fresh_schema(url) as schema:
        env = {**os.environ, "WDK_POSTGRES_URL": url, "WDK_POSTGRES_SCHEMA": schema}
        config.reset()
        config.configure(world="postgres", url=url, schema=schema, worker=False)
        with workers(n, env) as procs:
            return asyncio.run(_measure(url, schema, runs, [p.pid for p in procs]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", default=os.environ.get("WDK_POSTGRES_URL") or "postgresql://postgres@127.0.0.1:5432/test")
    parser.add_argument("--workers", default="1,2,4")
    parser.add_argument("--runs", type=int, default=1000)
    args = parser.parse_args()
    out: dict[str, object] = {"cores": os.cpu_count()}
    by_n = {}
    for n in (int(x) for x in args.workers.split(",")):
        by_n[n] = measure(args.url, n, args.runs)
        out[f"w{n}"] = by_n[n]
    one = by_n[min(by_n)]
    most = by_n[max(by_n)]
    # Extrapolated: N workers on N cores of their own, the server on its own cores.
    out["one_worker_cpu_bound_steps_per_s"] = round(1e6 / one["worker_cpu_us_per_step"])
    out[f"w{max(by_n)}_cpu_bound_steps_per_s"] = round(max(by_n) * 1e6 / most["worker_cpu_us_per_step"])
    out[f"scale_{max(by_n)}"] = round(
        out[f"w{max(by_n)}_cpu_bound_steps_per_s"] / out["one_worker_cpu_bound_steps_per_s"], 2  # type: ignore[operator]
    )
    out["server_cores_needed_at_that_rate"] = round(
        out[f"w{max(by_n)}_cpu_bound_steps_per_s"] * most["server_cpu_us_per_step"] / 1e6, 2  # type: ignore[operator]
    )
    print(json.dumps(out), flush=True)


if __name__ == "__main__":
    main()
