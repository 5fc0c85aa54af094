"""Cancelling from one process a run whose step runs in another."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest
from e2e_support import workers
from flows import slow

from wdk import WorkflowCancelled
from wdk.api import start
from wdk.runtime.engine import get_runtime


@pytest.mark.timeout(60)
async def test_cancel_reaches_a_step_running_in_a_worker(
    data_dir: Path, tmp_path: Path, subprocess_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WDK_EMBEDDED_WORKER", "0")
    ledger = tmp_path / "ledger.txt"
    rt = await get_runtime()
    try:
        with workers(data_dir, subprocess_env, tmp_path, n=1) as (worker,):
            run = await start(slow.long_step, str(ledger))
            for _ in range(200):
                if ledger.exists() and "started" in ledger.read_text():
                    break
                await asyncio.sleep(0.05)
            else:
                pytest.fail("the step never started in the worker")
            await run.cancel()
            with pytest.raises(WorkflowCancelled):
                await run.result(timeout=10)
            # The worker notices within its check interval (1 s), long before
            # the step's 60 s would end it; the deadline only bounds a hang.
            deadline = time.monotonic() + 20
            while "cancelled in" not in ledger.read_text():
                assert time.monotonic() < deadline, "the worker never cancelled the step"
                await asyncio.sleep(0.05)
            assert f"cancelled in {worker.pid}" in ledger.read_text()
    finally:
        await rt.stop()
