"""Recovery after a SIGKILL: seconds from killing the worker that runs a step
to that step starting again. Prints one JSON line per world and scenario.

    .venv/bin/python bench/recovery.py [--worlds local,postgres] [--url URL] [--rounds 3]

restart: the killed worker is started again at once with the same
         `--id` (its predecessor's leases are freed when it takes the id);
         the figure includes the new process's start-up (imports, connect).
takeover: another worker, already running, takes the run over when the
         dead worker's lease expires (WDK_LEASE_SECONDS, default 10) -- on the
         local world at once, since a dead process's leases are found by pid.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from postgres import fresh_schema  # noqa: E402


def _worker(env: dict[str, str], worker_id: str) -> subprocess.Popen[bytes]:
    cmd = [sys.executable, "-m", "wdk", "worker", "--path", str(HERE), "--id", worker_id]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE)
    assert proc.stdout is not None
    banner = proc.stdout.readline().decode()
    if not banner.startswith("wdk worker"):
        raise SystemExit(f"a worker did not start: {banner!r}")
    return proc


def _marks(path: Path) -> list[float]:
    return [float(x) for x in path.read_text().split()] if path.exists() else []


def _until(path: Path, n: int, timeout: float = 120.0) -> float:
    deadline = time.monotonic() + timeout
    while len(_marks(path)) < n:
        if time.monotonic() > deadline:
            raise SystemExit(f"no step start #{n} within {timeout} s")
        time.sleep(0.01)
    return _marks(path)[n - 1]


async def _start(path: Path) -> str:
    from bench_flows import recovery

    from wdk.api import start
    from wdk.runtime.engine import shutdown_runtime

    run = await start(recovery, str(path))
    await shutdown_runtime()
    return run.id


def one(env: dict[str, str], scenario: str) -> float:
    from wdk.runtime import config

    ledger = Path(tempfile.mkdtemp(prefix="wdk-recovery-")) / "marks"
    victim = _worker(env, "bench-victim")
    procs = [victim]
    try:
        config.configure(worker=False)
        asyncio.run(_start(ledger))
        _until(ledger, 1)
        if scenario == "takeover":  # started now: the victim holds the run
            procs.append(_worker(env, "bench-other"))
        killed_at = time.time()
        victim.send_signal(signal.SIGKILL)
        victim.wait()
        if scenario == "restart":
            procs.append(_worker(env, "bench-victim"))
        return _until(ledger, 2) - killed_at
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(15)
                except subprocess.TimeoutExpired:
                    proc.kill()


def measure(world: str, url: str, scenario: str, rounds: int) -> dict[str, object]:
    from wdk.runtime import config

    seconds = []
    for _ in range(rounds):
        config.reset()
        env = {**os.environ, "WDK_WORLD": world}
        if world == "postgres":
            with fresh_schema(url) as schema:
                env.update(WDK_POSTGRES_URL=url, WDK_POSTGRES_SCHEMA=schema)
                config.configure(world="postgres", url=url, schema=schema)
                seconds.append(one(env, scenario))
        else:
            data_dir = tempfile.mkdtemp(prefix="wdk-recovery-")
            env["WDK_DATA_DIR"] = data_dir
            config.configure(world="local", data_dir=data_dir)
            seconds.append(one(env, scenario))
    return {
        "world": world,
        "scenario": scenario,
        "lease_seconds": float(os.environ.get("WDK_LEASE_SECONDS", "10")),
        "median_s": round(statistics.median(seconds), 2),
        "max_s": round(max(seconds), 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--worlds", default="local,postgres")
    parser.add_argument("--scenarios", default="restart,takeover")
    parser.add_argument("--url", default=os.environ.get("WDK_POSTGRES_URL") or "postgresql://postgres@127.0.0.1:5432/test")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    for world in args.worlds.split(","):
        for scenario in args.scenarios.split(","):
            print(json.dumps(measure(world, args.url, scenario, args.rounds)), flush=True)


if __name__ == "__main__":
    main()
