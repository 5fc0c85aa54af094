"""A plain-def step that times out gives its thread slot back (WDK_STEP_THREADS),
and a worker stuck in one still stops on SIGTERM."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from e2e_support import Worker, child_env
from flows import hanging

from wdk.api import start
from wdk.runtime import steps
from wdk.runtime.engine import get_runtime

EXIT_DEADLINE = 30.0  # "it exits", not how fast


@pytest.fixture
def release_hung_steps() -> Iterator[None]:
    hanging.RELEASE.clear()
    try:
        yield
    finally:
        hanging.RELEASE.set()  # the abandoned threads return and end


async def test_timed_out_sync_steps_free_their_slots(
    monkeypatch: pytest.MonkeyPatch, release_hung_steps: None
) -> None:
    monkeypatch.setenv("WDK_STEP_THREADS", "2")
    monkeypatch.setattr(steps, "_threads", None)  # read the limit afresh
    rt = await get_runtime()
    try:
        # Three steps hang past their timeout with two slots; the fourth must still run.
        run = await start(hanging.three_hung_then_one, 41)
        assert await run.result(timeout=30) == ["TimeoutError"] * 3 + [42]
        assert steps.step_threads().limit == 2
        assert steps.step_threads().running == 0
    finally:
        await rt.stop()


@pytest.mark.local_only("the step threads do not depend on the world")
@pytest.mark.timeout(120)
async def test_a_worker_stuck_in_a_timed_out_sync_step_stops_on_sigterm(
    data_dir: Path, tmp_path: Path, subprocess_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WDK_EMBEDDED_WORKER", "0")  # only the worker runs steps
    worker = Worker(data_dir, child_env(subprocess_env), tmp_path / "worker.log")
    rt = await get_runtime()
    try:
        run = await start(hanging.hung_forever)
        deadline = time.monotonic() + 30
        while not any(e.type == "step_retrying" for e in await run.events()):
            assert time.monotonic() < deadline, f"no attempt timed out: {worker.stderr()}"
            await asyncio.sleep(0.05)
        worker.proc.send_signal(signal.SIGTERM)
        try:
            code = await asyncio.to_thread(worker.proc.wait, EXIT_DEADLINE)
        except subprocess.TimeoutExpired:
            pytest.fail(f"the worker did not exit on SIGTERM: {worker.stderr()}")
        assert code == 0, worker.stderr()
    finally:
        worker.stop()
        await rt.stop()
