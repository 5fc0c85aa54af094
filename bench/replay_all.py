"""The deploy gate's speed: `wdk replay --all` over many live runs.

    .venv/bin/python bench/replay_all.py [--runs 10000] [--steps 6]

Builds a local (SQLite) world in a temporary folder with `--runs` live runs
of a workflow of sequential steps, each history `run_created`, `run_started`
and `--steps` x (step_created, step_started, step_completed) -- 20 events
with the defaults -- written the way the runtime writes them. Then times
`replay_runs` (what `wdk replay --all` does: list, read, replay every run
against the current code) in this process, on one core, and `wdk replay
--all` itself as a subprocess. Prints one JSON line per measurement.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from wdk.runtime import serde
from wdk.runtime.instance import correlation_id
from wdk.runtime.loader import Loader
from wdk.runtime.replay import replay_runs
from wdk.worlds.base import NewEvent, NewRun
from wdk.worlds.local import LocalWorld

FLOW = '''
async def add_one(n: int) -> int:
    "use step"
    return n + 1


async def chain(n: int, steps: int) -> int:
    "use workflow"
    for _ in range(steps):
        n = await add_one(n)
    return n
'''


async def build(data_dir: str, runs: int, steps: int) -> int:
    world = LocalWorld(data_dir=data_dir)
    await world.open()
    events = 0
    try:
        step_id = "step//gateflow//add_one"
        for i in range(runs):
            run_id = f"wrun_bench{i:012d}"
            at = 1_700_000_000.0 + i
            payload = {
                "workflow_id": "workflow//gateflow//chain",
                "input": serde.encode_call((0, steps + 1), {}),
                "seed": f"{i:032x}",
                "code_version": "src:bench",
            }
            await world.create_run(NewRun(run_id, "workflow//gateflow//chain", at, payload))
            batch = [NewEvent("run_started", at)]
            for k in range(steps):
                cid = correlation_id(run_id, "step", k + 1)
                batch += [
                    NewEvent("step_created", at, cid, {"step_id": step_id, "input": serde.encode_call((k,), {})}),
                    NewEvent("step_started", at, cid, {"attempt": 1}),
                    NewEvent("step_completed", at, cid, {"result": k + 1}),
                ]
            await world.append(run_id, 0, batch)
            events += 1 + len(batch)
    finally:
        await world.close()
    return events


async def gate(data_dir: str) -> tuple[int, int]:
    world = LocalWorld(data_dir=data_dir)
    await world.open()
    ok = bad = 0
    try:
        async for report in replay_runs(world, loader=Loader()):
            if report.ok:
                ok += 1
            else:
                bad += 1
    finally:
        await world.close()
    return ok, bad


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=10_000)
    parser.add_argument("--steps", type=int, default=6)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        Path(tmp, "gateflow.py").write_text(FLOW)
        sys.path.insert(0, tmp)
        data_dir = os.path.join(tmp, "wdk")
        t0 = time.perf_counter()
        events = asyncio.run(build(data_dir, args.runs, args.steps))
        built = time.perf_counter() - t0
        t0 = time.perf_counter()
        ok, bad = asyncio.run(gate(data_dir))
        took = time.perf_counter() - t0
        print(json.dumps({
            "measure": "replay_runs (in process)", "runs": args.runs, "events": events,
            "events_per_run": events // args.runs, "ok": ok, "diverged": bad,
            "seconds": round(took, 2), "runs_per_s": round(args.runs / took), "build_seconds": round(built, 1),
        }))
        env = {**os.environ, "PYTHONPATH": tmp}
        t0 = time.perf_counter()
        proc = subprocess.run(
            [sys.executable, "-m", "wdk", "replay", "--all", "--data-dir", data_dir, "--json"],
            env=env, capture_output=True, cwd=tmp,
        )
        took = time.perf_counter() - t0
        summary = json.loads(proc.stdout)
        t0 = time.perf_counter()
        text = subprocess.run(
            [sys.executable, "-m", "wdk", "replay", "--all", "--data-dir", data_dir],
            env=env, capture_output=True, cwd=tmp,
        )
        text_took = time.perf_counter() - t0
        print(json.dumps({
            "measure": "wdk replay --all --json (subprocess, incl. start-up)", "runs": args.runs,
            "exit": proc.returncode, "ok": summary["ok"], "diverged": summary["diverged"],
            "seconds": round(took, 2),
        }))
        print(json.dumps({
            "measure": "wdk replay --all (subprocess, one line per run)", "runs": args.runs,
            "exit": text.returncode, "lines": len(text.stdout.splitlines()), "seconds": round(text_took, 2),
        }))


if __name__ == "__main__":
    main()
