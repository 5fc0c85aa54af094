"""Where a step's time goes: cProfile of one workflow of N sequential steps
(after a warm-up run) on the local world, or on postgres with --url. Prints
the profile as text (sorted by own time, then cumulative) to stdout.

    .venv/bin/python bench/profile_step.py [--steps 2000] [--url URL] > bench/profiles/NAME.txt
    .venv/bin/python bench/profile_step.py --runs 500    # N 1-step runs, start -> result: a run's own cost
    .venv/bin/python bench/profile_step.py --workflow rated_sequential   # N steps of another bench_flows workflow
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import io
import pstats
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))


async def _main(steps: int, runs: int, workflow: str = "sequential") -> tuple[cProfile.Profile, float]:
    import bench_flows
    from bench_flows import one_step

    from wdk.api import start

    sequential = getattr(bench_flows, workflow)
    await (await start(sequential, 20)).result()
    prof = cProfile.Profile()
    t0 = time.perf_counter()
    prof.enable()
    if runs:
        for _ in range(runs):
            await (await start(one_step)).result()
    else:
        run = await start(sequential, steps)
        await run.result()
    prof.disable()
    return prof, time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--url", default="")
    parser.add_argument("--runs", type=int, default=0, help="profile this many 1-step runs instead")
    parser.add_argument("--limit", type=int, default=40)
    parser.add_argument("--workflow", default="sequential", help="a workflow of bench_flows taking n (steps)")
    args = parser.parse_args()
    from wdk.api import configure

    if args.url:

        from postgres import fresh_schema

        with fresh_schema(args.url) as schema:
            configure(world="postgres", url=args.url, schema=schema)
            prof, seconds = asyncio.run(_main(args.steps, args.runs, args.workflow))
    else:
        configure(data_dir=tempfile.mkdtemp(prefix="wdk-profile-"))
        prof, seconds = asyncio.run(_main(args.steps, args.runs, args.workflow))
    out = io.StringIO()
    where = "postgres" if args.url else "local world"
    if args.runs:
        out.write(f"# {args.runs} 1-step runs one after another (start -> result), {where}: "
                  f"{seconds:.3f} s under the profiler ({seconds / args.runs * 1000:.2f} ms per run)\n")
    else:
        out.write(f"# {args.steps} steps of {args.workflow}, {where}: "
                  f"{seconds:.3f} s under the profiler ({args.steps / seconds:.0f} steps/s)\n")
    stats = pstats.Stats(prof, stream=out)
    stats.sort_stats("tottime").print_stats(args.limit)
    stats.sort_stats("cumulative").print_stats(args.limit)
    print(out.getvalue())


if __name__ == "__main__":
    main()
