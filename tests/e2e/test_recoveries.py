"""A crash is not the step's failure: an attempt cut short by a dying worker
is run again as the same attempt (a recovery) and uses none of the step's
retries; only a step that kills its worker WDK_MAX_RECOVERIES times fails."""

from __future__ import annotations

import asyncio
from pathlib import Path

from e2e_support import Worker, child_env, run_state, start_in_child, wait_runs
from flows import killer

from wdk.worlds import TERMINAL_STATUSES


async def _run_until_ended(
    data_dir: Path, run_id: str, env: dict[str, str], tmp_path: Path, most: int
) -> str:
    """Start workers one after another (each may die) until the run ends."""
    for i in range(most):
        run, _ = await run_state(data_dir, run_id)
        if run.status in TERMINAL_STATUSES:
            return run.status
        worker = Worker(data_dir, env, tmp_path / f"worker{i}.log")
        try:
            while worker.proc.poll() is None:
                run, _ = await run_state(data_dir, run_id)
                if run.status in TERMINAL_STATUSES:
                    break
                await asyncio.sleep(0.05)  # polling the run and the process
        finally:
            worker.stop()
    run, _ = await run_state(data_dir, run_id)
    return run.status


async def test_a_step_with_no_retries_survives_three_crashes(
    data_dir: Path, tmp_path: Path, subprocess_env: dict[str, str]
) -> None:
    env = child_env(subprocess_env, KILLER_COUNT=str(tmp_path / "count"))
    child = start_in_child(data_dir, "flows.killer:crash_loop", [3], env)
    assert child.status < 0  # the first process died in the step
    status = await _run_until_ended(data_dir, child.run_id, env, tmp_path, most=6)
    assert status == "completed"
    runs = await wait_runs(data_dir, [child.run_id])
    assert runs[child.run_id].output == "survived 3 kills"
    _, events = await run_state(data_dir, child.run_id)
    starts = [(e.payload["attempt"], e.payload.get("recovery", 0)) for e in events if e.type == "step_started"]
    assert starts == [(1, 0), (1, 1), (1, 2), (1, 3)]
    assert (tmp_path / "count").read_text().split() == ["1", "1", "1", "1"]
    assert killer.dies.max_retries == 0  # type: ignore[attr-defined]


async def test_a_step_that_always_kills_its_worker_fails_after_the_recovery_budget(
    data_dir: Path, tmp_path: Path, subprocess_env: dict[str, str]
) -> None:
    env = child_env(subprocess_env, KILLER_COUNT=str(tmp_path / "count"), WDK_MAX_RECOVERIES="2")
    child = start_in_child(data_dir, "flows.killer:crash_loop", [100], env)
    status = await _run_until_ended(data_dir, child.run_id, env, tmp_path, most=6)
    assert status == "failed"
    run, _ = await run_state(data_dir, child.run_id)
    assert run.error is not None
    assert "stopped 3 times" in run.error["message"] and "WDK_MAX_RECOVERIES=2" in run.error["message"]
    assert len((tmp_path / "count").read_text().split()) == 3  # the first run and two recoveries
