"""The runtime on the postgres world: scale-out with `wdk worker` processes,
and `bench/throughput.py`'s sequential and latency figures. Prints one JSON line.

    .venv/bin/python bench/postgres.py [--url URL] [--workers 1,2,4] [--rounds 3]

URL defaults to $WDK_POSTGRES_URL, else postgresql://postgres@127.0.0.1:5432/test.
Every scenario uses a fresh schema, dropped afterwards.

(w) steps/s, 200 workflows x 10 steps, with 1, 2 and 4 `wdk worker` processes:
    this process starts the runs client-only (WDK_EMBEDDED_WORKER=0) and
    waits until every run completed; from the first start to the last
    completion, the median of --rounds rounds (after one warm-up round)
(a) steps/s, one workflow of 1,000 sequential steps (embedded runtime)
(c) median ms of a 1-step workflow (start -> result), 200 runs (embedded runtime)
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import asyncpg

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

RUNS, STEPS = 200, 10


@contextlib.contextmanager
def fresh_schema(url: str) -> Iterator[str]:
    schema = f"wdk_bench_{uuid.uuid4().hex[:8]}"
    try:
        yield schema
    finally:
        asyncio.run(_drop(url, schema))


async def _drop(url: str, schema: str) -> None:
    conn = await asyncpg.connect(url)
    try:
        await conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    finally:
        await conn.close()


@contextlib.contextmanager
def workers(
    n: int, env: dict[str, str], cmd: list[str] | None = None
) -> Iterator[list[subprocess.Popen[bytes]]]:
    cmd = cmd or [sys.executable, "-m", "wdk", "worker", "--world", "postgres", "--path", str(HERE)]
    procs: list[subprocess.Popen[bytes]] = []
    try:
        for _ in range(n):
            proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE)
            procs.append(proc)
        for proc in procs:
            assert proc.stdout is not None
            banner = proc.stdout.readline().decode()
            if not banner.startswith("wdk worker"):
                raise SystemExit(f"a worker did not start: {banner!r}")
        yield procs
    finally:
        for proc in procs:
            proc.send_signal(signal.SIGTERM)
        for proc in procs:
            proc.wait(30)
            if proc.stdout is not None:
                proc.stdout.close()


async def _round(url: str, schema: str) -> float:
    """Start RUNS runs client-only; seconds until every one completed."""
    from bench_flows import sequential

    from wdk.api import start

    conn = await asyncpg.connect(url, server_settings={"search_path": schema})
    try:
        t0 = time.perf_counter()
        runs = await asyncio.gather(*(start(sequential, STEPS) for _ in range(RUNS)))
        ids = [run.id for run in runs]
        while True:
            done = await conn.fetchval(
                "SELECT count(*) FROM runs WHERE id = ANY($1) AND status = 'completed'", ids
            )
            if done == RUNS:
                return time.perf_counter() - t0
            await asyncio.sleep(0.005)
    finally:
        await conn.close()


async def _scale_out(url: str, schema: str, rounds: int) -> list[float]:
    from wdk.runtime.engine import get_runtime

    await get_runtime(consume=False)
    await _round(url, schema)  # warm up: compile and import in the workers, connections
    return [await _round(url, schema) for _ in range(rounds)]


def scale_out(url: str, n: int, rounds: int) -> dict[str, float]:
    from wdk.runtime import config

    with fresh_schema(url) as schema:
        env = {**os.environ, "WDK_POSTGRES_URL": url, "WDK_POSTGRES_SCHEMA": schema}
        config.reset()
        config.configure(world="postgres", url=url, schema=schema, worker=False)
        with workers(n, env):
            times = asyncio.run(_scale_out(url, schema, rounds))
    seconds = statistics.median(times)
    return {f"w{n}_steps_per_s": round(RUNS * STEPS / seconds), f"w{n}_seconds": round(seconds, 3)}


async def _embedded() -> dict[str, float]:
    from bench_flows import one_step
    from throughput import _seq

    from wdk.api import start

    await _seq(20)  # warm up: compile, sandbox, connections
    out: dict[str, float] = {"a_steps_per_s": round(1000 / await _seq(1000))}
    lat = []
    for _ in range(200):
        t0 = time.perf_counter()
        await (await start(one_step)).result()
        lat.append((time.perf_counter() - t0) * 1000)
    out["c_one_step_median_ms"] = round(statistics.median(lat), 3)
    return out


def embedded(url: str) -> dict[str, float]:
    from wdk.runtime import config

    with fresh_schema(url) as schema:
        config.reset()
        config.configure(world="postgres", url=url, schema=schema, worker=True)
        return asyncio.run(_embedded())


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    default_url = os.environ.get("WDK_POSTGRES_URL") or "postgresql://postgres@127.0.0.1:5432/test"
    parser.add_argument("--url", default=default_url)
    parser.add_argument("--workers", default="1,2,4", help="worker counts to measure")
    parser.add_argument("--rounds", type=int, default=3, help="measured rounds per worker count")
    args = parser.parse_args()
    result: dict[str, float] = {}
    for n in (int(x) for x in args.workers.split(",") if x):
        result.update(scale_out(args.url, n, args.rounds))
    result.update(embedded(args.url))
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
