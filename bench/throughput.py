"""Runtime throughput on the local world. Prints one JSON line per SQLite mode.

    .venv/bin/python bench/throughput.py            # NORMAL and FULL
    .venv/bin/python bench/throughput.py --quick    # smaller sizes, for a smoke run
    .venv/bin/python bench/throughput.py --asleep 100000 --modes NORMAL   # (f) only

(a) steps/s, one workflow of 1,000 sequential steps
(b) workflows/s and steps/s, 200 workflows x 10 steps started before awaiting
(c) median ms of a 1-step workflow (start -> result), 200 runs
(d) seconds to replay a 10,000-event history cold (read + replay)
(e) time(2,000 sequential steps) / time(1,000): 2.0 is linear
(f) peak RSS (MB) of a process holding 10,000 runs asleep at once
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))


async def _seq(n: int) -> float:
    from bench_flows import sequential

    from wdk.api import start

    t0 = time.perf_counter()
    run = await start(sequential, n)
    assert await run.result() == n
    return time.perf_counter() - t0


async def bench(sizes: dict[str, int]) -> dict[str, float]:
    from bench_flows import one_step, sequential

    from wdk.api import start
    from wdk.runtime.engine import get_runtime
    from wdk.runtime.instance import WorkflowInstance

    out: dict[str, float] = {}
    rt = await get_runtime()
    await _seq(20)  # warm up: compile, sandbox, connection

    n = sizes["seq"]
    out["a_steps_per_s"] = round(n / await _seq(n))

    runs, steps = sizes["many"], 10
    t0 = time.perf_counter()
    handles = [await start(sequential, steps) for _ in range(runs)]
    for h in handles:
        await h.result()
    dt = time.perf_counter() - t0
    out["b_workflows_per_s"] = round(runs / dt, 1)
    out["b_steps_per_s"] = round(runs * steps / dt)

    lat = []
    for _ in range(sizes["latency"]):
        t0 = time.perf_counter()
        await (await start(one_step)).result()
        lat.append((time.perf_counter() - t0) * 1000)
    out["c_one_step_median_ms"] = round(statistics.median(lat), 3)

    # (d): a run with ~10,000 events, then a cold replay of it from the store.
    target = sizes["replay_events"]
    run = await start(sequential, (target - 4) // 3)
    await run.result()
    rt.orchestrator.drop(run.id)
    t0 = time.perf_counter()
    events = await rt.world.read_events(run.id)
    fn = rt.loader.workflow_function(events[0].payload["workflow_id"])
    inst = WorkflowInstance(run.id, "", fn, events[0])
    for ev in events:
        inst.apply(ev)
    out["d_replay_s"] = round(time.perf_counter() - t0, 3)
    out["d_events"] = len(events)
    inst.close()

    t1 = await _seq(n)
    t2 = await _seq(2 * n)
    out["e_linearity"] = round(t2 / t1, 2)
    return out


async def compare(sizes: dict[str, int]) -> dict[str, float]:
    """(a), (b) and (c) only: `bench/vs_dbos.py`'s wdk side on the local world."""
    from bench_flows import one_step, sequential

    from wdk.api import start
    from wdk.runtime.engine import get_runtime

    await get_runtime()
    await _seq(sizes.get("warm", 20))  # warm up: compile, sandbox, connection (see vs_dbos --warm)
    out: dict[str, float] = {"a_steps_per_s": round(sizes["seq"] / await _seq(sizes["seq"]))}
    runs = sizes["many"]
    t0 = time.perf_counter()
    handles = [await start(sequential, 10) for _ in range(runs)]
    for h in handles:
        await h.result()
    out["b_workflows_per_s"] = round(runs / (time.perf_counter() - t0), 1)
    lat = []
    for _ in range(sizes["latency"]):
        t0 = time.perf_counter()
        await (await start(one_step)).result()
        lat.append((time.perf_counter() - t0) * 1000)
    out["c_one_step_median_ms"] = round(statistics.median(lat), 3)
    return out


async def asleep(count: int) -> dict[str, float]:
    from bench_flows import sleepy

    from wdk.api import start
    from wdk.runtime.engine import get_runtime

    rt = await get_runtime()
    t0 = time.perf_counter()
    for _ in range(count):
        await start(sleepy)
    while True:  # every run has recorded its timer
        waiting = 0
        page = await rt.world.list_runs(status="running", limit=count)
        waiting = len(page.items)
        if waiting >= count:
            break
        await asyncio.sleep(2.0)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"f_asleep_runs": count, "f_peak_rss_mb": round(rss, 1), "f_setup_s": round(time.perf_counter() - t0, 1)}


def child(kind: str, sizes: dict[str, int]) -> None:
    from wdk.api import configure

    configure(data_dir=tempfile.mkdtemp(prefix="wdk-bench-"))
    kinds = {"main": bench, "compare": compare}
    work = kinds[kind](sizes) if kind in kinds else asyncio.wait_for(asleep(sizes["asleep"]), 3600)
    result = asyncio.run(work)
    print(json.dumps(result))


def run_child(kind: str, mode: str, sizes: dict[str, int]) -> dict[str, float]:
    env = {**os.environ, "WDK_SQLITE_SYNCHRONOUS": mode}
    out = subprocess.run(
        [sys.executable, __file__, "--child", kind, "--sizes", json.dumps(sizes)],
        env=env, capture_output=True, text=True, check=False,
    )
    if out.returncode != 0:
        raise SystemExit(f"bench child failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--modes", default="NORMAL,FULL")
    parser.add_argument("--child", default="")
    parser.add_argument("--sizes", default="")
    parser.add_argument("--asleep", type=int, default=0, help="only (f), with this many runs")
    args = parser.parse_args()
    if args.child:
        child(args.child, json.loads(args.sizes))
        return
    sizes = {"seq": 1000, "many": 200, "latency": 200, "replay_events": 10_000, "asleep": 10_000}
    if args.quick:
        sizes = {"seq": 200, "many": 20, "latency": 20, "replay_events": 1000, "asleep": 200}
    if args.asleep:
        mode = args.modes.split(",")[0]
        print(json.dumps({"mode": mode, **run_child("asleep", mode, {**sizes, "asleep": args.asleep})}), flush=True)
        return
    for mode in args.modes.split(","):
        result = {"mode": mode, **run_child("main", mode, sizes)}
        if mode == args.modes.split(",")[0]:
            result.update(run_child("asleep", mode, sizes))
        print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
