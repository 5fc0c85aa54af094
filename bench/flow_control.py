"""What a flow-control limit costs: 1,000 steps with and without one.

    .venv/bin/python bench/flow_control.py                 # local world
    WDK_WORLD=postgres WDK_POSTGRES_URL=... .venv/bin/python bench/flow_control.py

Prints one JSON line: seconds for 1,000 steps, best of --repeat, for
(a) one run of 1,000 sequential steps: no limit / Concurrency(10) / RateLimit
    (a limit that never binds: the cost is the slot's lease and ack, the token's lease);
(b) 100 runs x 10 steps started together: no limit / Concurrency(1000) (never
    binds: the cost of leasing 100 slots at once and giving them back), and
    (for scale, not overhead) Concurrency(10), which binds: 10 at a time;
and the overheads in percent. Runs alternate plain / limited, best of each.
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


async def _one(workflow: object, n: int) -> float:
    from wdk.api import start

    t0 = time.perf_counter()
    run = await start(workflow, n)  # type: ignore[call-overload]
    assert await run.result() == n
    return time.perf_counter() - t0


async def _many(workflow: object, runs: int, steps: int) -> float:
    from wdk.api import start

    t0 = time.perf_counter()
    handles = [await start(workflow, steps) for _ in range(runs)]  # type: ignore[call-overload]
    for h in handles:
        assert await h.result() == steps
    return time.perf_counter() - t0


async def bench(repeat: int) -> dict[str, float]:
    from bench_flows import limited_sequential, rated_sequential, sequential, wide_sequential

    from wdk.runtime.engine import get_runtime

    rt = await get_runtime()
    for wf in (sequential, limited_sequential, rated_sequential, wide_sequential):
        await _one(wf, 20)  # warm up: compile, sandbox, slots seeded
    out: dict[str, float] = {"world": rt.world.name}  # type: ignore[dict-item]
    a = {"a_plain_s": sequential, "a_concurrency_s": limited_sequential, "a_rate_s": rated_sequential}
    b = {"b_plain_s": sequential, "b_concurrency_s": wide_sequential, "b_binding_10_s": limited_sequential}
    times: dict[str, list[float]] = {name: [] for name in (*a, *b)}
    for _ in range(repeat):  # interleaved: a slow moment of a shared machine hits every variant
        for name, wf in a.items():
            times[name].append(await _one(wf, 1000))
        for name, wf in b.items():
            times[name].append(await _many(wf, 100, 10))
    for name, values in times.items():
        out[name] = round(min(values), 3)
    out["a_concurrency_overhead_pct"] = round(100 * (out["a_concurrency_s"] / out["a_plain_s"] - 1), 1)
    out["a_rate_overhead_pct"] = round(100 * (out["a_rate_s"] / out["a_plain_s"] - 1), 1)
    out["b_concurrency_overhead_pct"] = round(100 * (out["b_concurrency_s"] / out["b_plain_s"] - 1), 1)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    from wdk.api import configure
    from wdk.settings import current_settings

    if current_settings().world == "local":
        configure(data_dir=tempfile.mkdtemp(prefix="wdk-bench-flow-"))
    print(json.dumps(asyncio.run(bench(args.repeat))))


if __name__ == "__main__":
    main()
