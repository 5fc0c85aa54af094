"""Soak: SIGKILL `wdk worker` processes over and over while runs go through,
then check what the store and the steps' ledger say. Prints one JSON line.

    .venv/bin/python bench/soak.py [--runs 200] [--kills 80] [--workers 2]
                                   [--interval 0.25] [--world local|postgres]

Every run is a ten-step workflow (`bench/soak_flows.py`). Every `--interval`
seconds one worker, picked at random, is SIGKILLed and a new one started in
its place, until `--kills` kills; then the survivors finish the rest.

completed / failed / stuck      runs by final state (stuck: not ended `--settle` s
                                after the last kill). failed and stuck must be 0.
wrong_results                   completed runs whose result is not the expected one (0)
extra_before_completion         step executions beyond one per step that began
                                before the step's completion was recorded: the
                                attempts the kills cut short (expected, > 0)
extra_after_completion          executions that began after the completion was
                                recorded: a step run again although its result
                                was in the log (must be 0)
duplicate_completions           steps with more than one completion event (0)
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections import defaultdict
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))


def start_worker(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    cmd = [sys.executable, "-m", "wdk", "worker", "--path", str(HERE)]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=open(log, "ab"))
    assert proc.stdout is not None
    banner = proc.stdout.readline().decode()
    if not banner.startswith("wdk worker"):
        raise SystemExit(f"a worker did not start: {banner!r} (see {log})")
    return proc


async def soak(args: argparse.Namespace, env: dict[str, str], tmp: Path) -> dict[str, object]:
    import soak_flows

    from wdk.api import configure, start
    from wdk.runtime.config import make_world
    from wdk.worlds import TERMINAL_STATUSES

    configure(worker=False)
    ledger = Path(env["SOAK_LEDGER"])
    procs = [start_worker(env, tmp / f"worker{i}.log") for i in range(args.workers)]
    rng = random.Random(args.seed)
    world = make_world()
    await world.open()
    kills = 0
    try:
        runs = [await start(soak_flows.soak, i) for i in range(args.runs)]
        while kills < args.kills:
            await asyncio.sleep(args.interval)
            i = rng.randrange(len(procs))
            procs[i].kill()
            procs[i].wait()
            kills += 1
            procs[i] = start_worker(env, tmp / f"worker{i}.log")
        deadline = time.monotonic() + args.settle
        while time.monotonic() < deadline:
            infos = [await world.get_run(r.id) for r in runs]
            if all(x is not None and x.status in TERMINAL_STATUSES for x in infos):
                break
            await asyncio.sleep(0.2)
        infos = [await world.get_run(r.id) for r in runs]
        completion_at: dict[tuple[str, str], float] = {}
        duplicates = 0
        for r in runs:
            seen: dict[str, int] = defaultdict(int)
            for e in await world.read_events(r.id):
                if e.type in ("step_completed", "step_failed") and e.correlation_id:
                    seen[e.correlation_id] += 1
                    completion_at.setdefault((r.id, e.correlation_id), e.at)
            duplicates += sum(1 for n in seen.values() if n > 1)
    finally:
        await world.close()
        for proc in procs:
            proc.send_signal(signal.SIGTERM)
        for proc in procs:
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(30)
    by_step: dict[tuple[str, str], list[float]] = defaultdict(list)
    for line in ledger.read_text().splitlines():
        run_id, corr, _execution, _pid, at = line.split()
        by_step[(run_id, corr)].append(float(at))
    before = after = 0
    for key, starts in by_step.items():
        done = completion_at.get(key)
        late = [t for t in starts if done is not None and t > done]
        after += len(late)
        before += len(starts) - len(late) - 1
    statuses = [x.status if x is not None else "missing" for x in infos]
    wrong = sum(
        1
        for i, x in enumerate(infos)
        if x is not None and x.status == "completed" and x.output != soak_flows.expected(i)
    )
    return {
        "world": args.world,
        "runs": args.runs,
        "kills": kills,
        "workers": args.workers,
        "completed": statuses.count("completed"),
        "failed": statuses.count("failed"),
        "stuck": sum(1 for s in statuses if s not in ("completed", "failed", "cancelled")),
        "wrong_results": wrong,
        "extra_before_completion": before,
        "extra_after_completion": after,
        "duplicate_completions": duplicates,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--kills", type=int, default=80)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--interval", type=float, default=0.25)
    parser.add_argument("--settle", type=float, default=120.0)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--world", choices=("local", "postgres"), default="local")
    parser.add_argument("--url", default=os.environ.get("WDK_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="wdk-soak-") as tmp:
        env = {
            **os.environ,
            "PYTHONPATH": os.pathsep.join([str(HERE), os.environ.get("PYTHONPATH", "")]),
            "SOAK_LEDGER": str(Path(tmp) / "ledger"),
            "WDK_EMBEDDED_WORKER": "0",
            "WDK_LEASE_SECONDS": "2",  # a SIGKILLed worker's runs return soon on postgres
        }
        schema = None
        if args.world == "postgres":
            schema = f"wdk_soak_{uuid.uuid4().hex[:8]}"
            env.update(WDK_WORLD="postgres", WDK_POSTGRES_URL=args.url, WDK_POSTGRES_SCHEMA=schema)
        else:
            env.update(WDK_WORLD="local", WDK_DATA_DIR=str(Path(tmp) / "wdk"))
        os.environ.update(env)
        try:
            result = asyncio.run(soak(args, env, Path(tmp)))
        finally:
            if schema is not None:
                asyncio.run(_drop_schema(args.url, schema))
    print(json.dumps(result))
    bad = result["failed"] or result["stuck"] or result["wrong_results"]
    bad = bad or result["extra_after_completion"] or result["duplicate_completions"]
    raise SystemExit(1 if bad else 0)


async def _drop_schema(url: str, schema: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(url)
    try:
        await conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    finally:
        await conn.close()


if __name__ == "__main__":
    main()
