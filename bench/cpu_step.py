"""CPU per step (time.process_time), the figure least moved by other jobs on a
shared machine. One JSON line: for each round, (a) one workflow of N
sequential steps, (b) R workflows x 10 steps started before awaiting, (c) M
1-step runs one after another; the minimum over rounds of CPU µs per step
(per run for (c)), and wall-clock figures beside it.

    .venv/bin/python bench/cpu_step.py [--rounds 5] [--steps 1000] [--runs 200]
    WDK_SQLITE_SYNCHRONOUS=FULL .venv/bin/python bench/cpu_step.py
    PYTHONPATH=/tmp/wdk-old .venv/bin/python bench/cpu_step.py   # another checkout's wdk
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))


async def _round(steps: int, runs: int, latency: int) -> dict[str, float]:
    from bench_flows import one_step, sequential

    from wdk.api import start

    c0, t0 = time.process_time(), time.perf_counter()
    assert await (await start(sequential, steps)).result() == steps
    a_cpu, a_wall = time.process_time() - c0, time.perf_counter() - t0

    c0, t0 = time.process_time(), time.perf_counter()
    handles = [await start(sequential, 10) for _ in range(runs)]
    for h in handles:
        await h.result()
    b_cpu, b_wall = time.process_time() - c0, time.perf_counter() - t0

    c0, t0 = time.process_time(), time.perf_counter()
    for _ in range(latency):
        await (await start(one_step)).result()
    c_cpu, c_wall = time.process_time() - c0, time.perf_counter() - t0
    return {
        "a_cpu_us_per_step": a_cpu / steps * 1e6,
        "a_steps_per_s": steps / a_wall,
        "b_cpu_us_per_step": b_cpu / (runs * 10) * 1e6,
        "b_workflows_per_s": runs / b_wall,
        "c_cpu_us_per_run": c_cpu / latency * 1e6,
        "c_ms_per_run": c_wall / latency * 1e3,
    }


async def _main(args: argparse.Namespace) -> dict[str, object]:
    from bench_flows import sequential

    from wdk.api import start
    from wdk.runtime.engine import get_runtime

    await get_runtime()
    await (await start(sequential, 50)).result()  # warm up: compile, sandbox, connection
    rounds = [await _round(args.steps, args.runs, args.latency) for _ in range(args.rounds)]
    out: dict[str, object] = {}
    for key in rounds[0]:
        values = [r[key] for r in rounds]
        best = min(values) if "cpu" in key or key.endswith("per_run") else max(values)
        out[key] = round(best, 1)
    out["rounds"] = args.rounds
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--latency", type=int, default=200)
    args = parser.parse_args()
    from wdk.api import configure

    configure(data_dir=tempfile.mkdtemp(prefix="wdk-cpu-"))
    print(json.dumps(asyncio.run(_main(args))))


if __name__ == "__main__":
    main()
