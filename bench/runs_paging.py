"""The dashboard's queries over a big store: the runs list (filtered, paged
by cursor) and the system view, on 100,000 runs.

    .venv/bin/python bench/runs_paging.py [--runs 100000] [--world local|postgres] [--url URL]

Fills a fresh store (a temp SQLite file, or a schema of its own on the
postgres server, dropped afterwards) with `--runs` runs of 10 workflows,
created over the last 7 days: 70% completed, 10% failed, 5% cancelled, the
rest running or pending. Then prints one JSON line: the median and worst
milliseconds of each query over 20 tries, through the World (what the HTTP
handlers call), and a few through `wdk web`'s HTTP API (`http_*`: the JSON of
50 runs included). Target: every runs-list page under 200 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from wdk.worlds.base import NewEvent, NewRun, World
from wdk.worlds.sql import encode_cursor

TARGET_MS = 200.0
TRIES = 20
WORKFLOWS = [f"workflow//shop.flows//flow_{i}" for i in range(10)]
BATCH = 1000


async def fill(world: World, runs: int) -> float:
    """Create the runs and end most of them; returns seconds taken."""
    rng = random.Random(16)
    now = time.time()
    began = time.perf_counter()
    for start in range(0, runs, BATCH):
        batch = []
        for i in range(start, min(runs, start + BATCH)):
            at = now - rng.random() * 7 * 86400
            batch.append(NewRun(f"wrun_{int(at * 1000):012x}{i:020x}", rng.choice(WORKFLOWS), at, {"input": {}}))
        await asyncio.gather(*(world.create_run(r) for r in batch))
        ends = []
        for r in batch:
            roll = rng.random()
            kind = (
                "run_completed" if roll < 0.70 else "run_failed" if roll < 0.80
                else "run_cancelled" if roll < 0.85 else "run_started" if roll < 0.95 else None
            )
            if kind is None:
                continue
            end_at = min(now, r.at + rng.random() * 600)
            events = [NewEvent("run_started", r.at)]
            if kind == "run_completed":
                events.append(NewEvent("run_completed", end_at, None, {"result": 1}))
            elif kind == "run_failed":
                events.append(NewEvent("run_failed", end_at, None, {"error": {"type": "E", "message": "m"}}))
            elif kind == "run_cancelled":
                events.append(NewEvent("run_cancelled", end_at))
            ends.append(world.append(r.run_id, 0, events))
        await asyncio.gather(*ends)
    return time.perf_counter() - began


async def timed(call: Callable[[], Awaitable[Any]]) -> dict[str, float]:
    times = []
    for _ in range(TRIES):
        began = time.perf_counter()
        await call()
        times.append((time.perf_counter() - began) * 1000)
    return {"median_ms": round(statistics.median(times), 2), "max_ms": round(max(times), 2)}


async def measure(world: World, runs: int) -> dict[str, Any]:
    now = time.time()
    # A cursor half-way down the unfiltered list: a page deep in the history.
    middle = (await world.list_runs(limit=1000)).items[-1]
    deep = encode_cursor(middle.created_at, middle.id)
    for _ in range(runs // 2000 - 1):
        page = await world.list_runs(limit=1000, cursor=deep)
        if page.next_cursor is None:
            break
        deep = page.next_cursor
    wf = WORKFLOWS[3]
    queries: dict[str, Callable[[], Awaitable[Any]]] = {
        "first_page": lambda: world.list_runs(limit=50),
        "page_at_half": lambda: world.list_runs(limit=50, cursor=deep),
        "status_failed": lambda: world.list_runs(status="failed", limit=50),
        "status_pending": lambda: world.list_runs(status="pending", limit=50),
        "workflow": lambda: world.list_runs(workflow_id=wf, limit=50),
        "workflow_and_status": lambda: world.list_runs(workflow_id=wf, status="cancelled", limit=50),
        "last_hour": lambda: world.list_runs(created_after=now - 3600, limit=50),
        "failed_last_day": lambda: world.list_runs(status="failed", created_after=now - 86400, limit=50),
        "older_than_6_days": lambda: world.list_runs(created_before=now - 6 * 86400, limit=50),
        "system_info_15min": lambda: world.system_info("flow", now - 900),
    }
    return {name: await timed(call) for name, call in queries.items()}


async def measure_http(world: World, runs: int, configure_world: Callable[[], None]) -> dict[str, Any]:
    """The same through `wdk web`'s HTTP API (what the page fetches): JSON included."""
    import aiohttp

    from wdk.runtime.engine import shutdown_runtime
    from wdk.server.app import start_server
    from wdk.web import create_app

    configure_world()
    server = await start_server(port=0, app=create_app())
    try:
        async with aiohttp.ClientSession() as session:
            async def get(path: str) -> None:
                async with session.get(server.url + path) as resp:
                    assert resp.status == 200, await resp.text()
                    await resp.read()

            first = await world.list_runs(limit=runs // 2)
            deep = encode_cursor(first.items[-1].created_at, first.items[-1].id)
            return {
                "http_first_page": await timed(lambda: get("/api/runs?limit=50")),
                "http_page_at_half": await timed(lambda: get(f"/api/runs?limit=50&cursor={deep}")),
                "http_failed": await timed(lambda: get("/api/runs?limit=50&status=failed")),
                "http_system": await timed(lambda: get("/api/system?minutes=15")),
            }
    finally:
        await server.close()
        await shutdown_runtime()


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=100_000)
    parser.add_argument("--world", choices=("local", "postgres"), default="local")
    parser.add_argument(
        "--url", default=os.environ.get("WDK_POSTGRES_URL") or "postgresql://postgres@127.0.0.1:5432/test"
    )
    args = parser.parse_args()
    world: World
    cleanup: Callable[[], Awaitable[None]] | None = None
    if args.world == "local":
        from wdk.worlds.local import LocalWorld

        tmp = tempfile.TemporaryDirectory(prefix="wdk-paging-")
        world = LocalWorld(Path(tmp.name))
    else:
        import asyncpg

        from wdk.worlds.postgres import PostgresWorld

        schema = f"bench_paging_{os.getpid()}"
        world = PostgresWorld(url=args.url, schema=schema)

        async def drop() -> None:
            conn = await asyncpg.connect(args.url)
            try:
                await conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
            finally:
                await conn.close()

        cleanup = drop
    from wdk.runtime.config import configure

    def configure_world() -> None:  # the web app's own runtime opens the same store
        if args.world == "local":
            configure(world="local", data_dir=tmp.name, worker=False)
        else:
            configure(world="postgres", url=args.url, schema=schema, worker=False)

    await world.open()
    try:
        fill_s = await fill(world, args.runs)
        figures = await measure(world, args.runs)
        figures.update(await measure_http(world, args.runs, configure_world))
    finally:
        await world.close()
        if cleanup is not None:
            await cleanup()
    worst = max(v["max_ms"] for k, v in figures.items() if "system" not in k)
    print(json.dumps({"world": args.world, "runs": args.runs, "fill_s": round(fill_s, 1), **figures,
                      "worst_page_ms": worst, "target_ms": TARGET_MS}))
    return 0 if worst < TARGET_MS else 1


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
