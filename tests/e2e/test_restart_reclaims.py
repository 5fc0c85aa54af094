"""A worker SIGKILLed mid-step and started again with its id takes its runs
back at once: the interrupted step starts again although the dead worker's
lease has an hour left (WDK_LEASE_SECONDS=3600). How many seconds that takes
is a benchmark's business (bench/recovery.py), not this test's."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from e2e_support import E2E, Worker, child_env, run_state

from wdk.api import start
from wdk.runtime import config
from wdk.runtime.engine import shutdown_runtime

DEADLINE = 60.0  # far below the hour the dead worker's lease still had


async def _until(predicate: object, what: str) -> None:
    deadline = time.monotonic() + DEADLINE
    while not predicate():  # type: ignore[operator]
        assert time.monotonic() < deadline, f"not within {DEADLINE} s: {what}"
        await asyncio.sleep(0.05)


def _starts(ledger: Path) -> int:
    return ledger.read_text().count("started") if ledger.exists() else 0


async def test_a_restarted_worker_takes_its_runs_back_without_waiting_for_their_leases(
    data_dir: Path, tmp_path: Path, subprocess_env: dict[str, str]
) -> None:
    from flows import slow

    env = child_env(subprocess_env, WDK_LEASE_SECONDS="3600")
    ledger = tmp_path / "ledger"
    first = Worker(data_dir, env, tmp_path / "first.log", "--id", "orders-1")
    try:
        config.configure(data_dir=data_dir, worker=False)  # this process only starts the run
        run = await start(slow.long_step, str(ledger))
        await _until(lambda: _starts(ledger) == 1, "the first worker starts the step")
        os.kill(first.pid, signal.SIGKILL)
        first.proc.wait()
    finally:
        first.stop()
    second = Worker(data_dir, env, tmp_path / "second.log", "--id", "orders-1")
    try:
        await _until(lambda: _starts(ledger) == 2, "the restarted worker starts the step again")
        _, events = await run_state(data_dir, run.id)
        starts = [(e.payload["attempt"], e.payload.get("recovery", 0)) for e in events if e.type == "step_started"]
        assert starts == [(1, 0), (1, 1)]  # the same attempt, recovered: no retry used
        await run.cancel()
    finally:
        second.stop()
        await shutdown_runtime()


def test_two_live_workers_cannot_share_an_id(
    data_dir: Path, tmp_path: Path, subprocess_env: dict[str, str]
) -> None:
    env = child_env(subprocess_env)
    first = Worker(data_dir, env, tmp_path / "first.log", "--id", "orders-1")
    try:
        cmd = [sys.executable, "-m", "wdk", "worker", "--data-dir", str(data_dir), "--path", str(E2E)]
        second = subprocess.run([*cmd, "--id", "orders-1"], env=env, capture_output=True, text=True, timeout=60)
        assert second.returncode != 0
        assert "orders-1" in second.stderr and "held by another live worker" in second.stderr
    finally:
        assert first.stop() == 0
