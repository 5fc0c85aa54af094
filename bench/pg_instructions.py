"""Client instructions per step on the postgres world, counted by valgrind's
callgrind (the figure the machine's load does not move; the server's work
is not in it). As in `bench/instructions.py`, each figure is the difference
of two runs of one process divided by the difference in work:

(a) one workflow of N sequential steps, embedded runtime: (count(1200) - count(200)) / 1000
(w) N `world.append` calls of a step's batch (step_completed, step_created,
    step_started), nothing else: (count(1100) - count(100)) / 1000

    .venv/bin/python bench/pg_instructions.py [--url URL]
    cd /tmp && PYTHONPATH=/tmp/old .venv/bin/python /path/bench/pg_instructions.py   # another checkout's

Needs `valgrind` and the server; each run uses a fresh schema. A few minutes.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
SIZES = {"a": (200, 1200, 1000), "w": (100, 1100, 1000)}


def step_batches(n: int) -> Iterator[list[Any]]:
    """A run's appends as the runtime batches them, for n steps."""
    from wdk.worlds.base import NewEvent

    def cid(i: int) -> str:
        return f"step_{i}_e99b5fc1c8c21865"

    def created(i: int) -> NewEvent:
        return NewEvent("step_created", time.time(), cid(i), {"step_id": "step//bench_flows//noop", "input": {"args": [i], "kwargs": {}}})

    def started(i: int) -> NewEvent:
        return NewEvent("step_started", time.time(), cid(i), {"attempt": 1})

    yield [NewEvent("run_started", time.time()), created(1), started(1)]
    for i in range(2, n + 1):
        yield [NewEvent("step_completed", time.time(), cid(i - 1), {"result": i}), created(i), started(i)]


async def _work(mode: str, n: int, url: str, schema: str) -> None:
    if mode == "a":
        from bench_flows import sequential

        from wdk.api import start

        await (await start(sequential, n)).result()
        return
    from wdk.worlds.base import NewRun
    from wdk.worlds.postgres import PostgresWorld

    world = PostgresWorld(url, schema=schema)
    await world.open()
    try:
        run = NewRun("run-1", "w", time.time(), {})
        await world.create_run(run)
        seq = 0
        for batch in step_batches(n):
            await world.append(run.run_id, seq, batch)
            seq += len(batch)
    finally:
        await world.close()


def _count(mode: str, n: int, url: str) -> int:
    from instructions import callgrind
    from postgres import fresh_schema

    with fresh_schema(url) as schema:
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
        return callgrind([__file__, "--child", mode, str(n), url, schema], env)


def main() -> None:
    sys.path.insert(0, str(HERE))
    if sys.argv[1:2] == ["--child"]:
        mode, n, url, schema = sys.argv[2], int(sys.argv[3]), sys.argv[4], sys.argv[5]
        from wdk.runtime import config

        config.configure(world="postgres", url=url, schema=schema, worker=True)
        asyncio.run(_work(mode, n, url, schema))
        return
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", default=os.environ.get("WDK_POSTGRES_URL") or "postgresql://postgres@127.0.0.1:5432/test")
    args = parser.parse_args()
    import wdk

    figures: dict[str, object] = {"wdk": str(Path(wdk.__file__).parent)}
    for mode, (small, large, units) in SIZES.items():
        figures[f"{mode}_instructions_per_{'step' if mode == 'a' else 'append'}"] = (
            _count(mode, large, args.url) - _count(mode, small, args.url)
        ) // units
    print(json.dumps(figures), flush=True)


if __name__ == "__main__":
    main()
