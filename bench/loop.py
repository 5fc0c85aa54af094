"""WorkflowLoop overhead: how many create_future / set_result / await cycles a
workflow loop runs per second (each is what a step costs the loop itself).

    .venv/bin/python bench/loop.py [--cycles 50000] [--rounds 3]

Prints one JSON line: cycles per second of each round and the best. Target:
>= 50,000 cycles/s (the loop must stay far below a step's I/O cost). Exits 1
when the best round misses the target.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from wdk.runtime.loop import WorkflowLoop

TARGET = 50_000


def cycles_per_second(n: int) -> float:
    """Drive one workflow that awaits `n` futures, each resolved from outside
    the loop as the orchestrator resolves a step's future."""
    loop = WorkflowLoop(run_id="bench", seed=7, start_time=1_700_000_000.0, timer_hook=lambda h: None)
    box: list[asyncio.Future[int]] = []

    async def wf() -> int:
        total = 0
        for _ in range(n):
            fut = loop.create_future()
            box.append(fut)
            total += await fut
        return total

    begin = time.perf_counter()
    task = loop.create_task(wf())
    loop.run_until_quiescent()
    while not task.done():
        box.pop().set_result(1)
        loop.run_until_quiescent()
    elapsed = time.perf_counter() - begin
    assert task.result() == n
    loop.close()
    return n / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cycles", type=int, default=50_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    rates = [cycles_per_second(args.cycles) for _ in range(args.rounds)]
    best = max(rates)
    print(f"WorkflowLoop: {best:,.0f} create_future/set_result/await cycles per second (best of {args.rounds})")
    print(json.dumps({"cycles": args.cycles, "per_second": [round(r) for r in rates], "best": round(best), "target": TARGET}))
    if best < TARGET:
        sys.exit(1)


if __name__ == "__main__":
    main()
