"""`cancel` ends any unfinished run, whatever its code does -- even code that
cannot be loaded -- and code that cannot be loaded is retried with back-off,
said once per run (no traceback a second)."""

from __future__ import annotations

import asyncio
import logging
import subprocess
import sys
import time
from pathlib import Path

import e2e_support
import pytest
from e2e_support import Worker, child_env

from wdk.api import configure, get_run
from wdk.runtime import orchestrator, serde
from wdk.runtime.engine import FLOW, get_runtime
from wdk.runtime.loader import Loader
from wdk.runtime.orchestrator import Orchestrator
from wdk.settings import current_settings
from wdk.worlds import NewRun, World

BROKEN = "workflow//unloadable_flow//wf"
MESSAGE = "cannot load the workflow of run"


def _broken_module(folder: Path) -> None:
    (folder / "unloadable_flow.py").write_text(
        'async def wf(x: int) -> int:\n    "use workflow"\n    return x\n\ndef oops(:\n'
    )


async def _write_run(world: World) -> str:
    """A run of code that broke after it was started (start() refuses broken code)."""
    run_id = f"wrun_broken{time.time_ns()}"
    payload = {"workflow_id": BROKEN, "input": serde.encode_call((1,), {}), "seed": "00" * 16}
    await world.create_run(NewRun(run_id, BROKEN, time.time(), payload))
    await world.enqueue(FLOW, run_id)
    return run_id


async def test_unloadable_code_backs_off_says_so_once_and_cancel_ends_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    _broken_module(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    configure(load_retry=1.0)
    monkeypatch.setattr(orchestrator, "LOAD_RETRY_MAX", 8.0)
    caplog.set_level(logging.DEBUG, logger="wdk")
    rt = await get_runtime(consume=False)
    run_id = await _write_run(rt.world)
    orch = Orchestrator(rt.world, Loader(), settings=current_settings())

    delays = []
    for _ in range(6):
        next_at = await orch.advance(run_id)
        assert next_at is not None
        delays.append(next_at - time.time())
    assert delays == pytest.approx([1, 2, 4, 8, 8, 8], abs=0.5)
    said = [r for r in caplog.records if MESSAGE in r.getMessage()]
    assert [r.levelno for r in said] == [logging.ERROR] + [logging.DEBUG] * 5
    assert all(r.exc_info is None for r in said)  # one line, no traceback
    assert "unloadable_flow.py:5:10: error: syntax error" in said[0].getMessage()
    assert await get_run(run_id).status() == "pending"  # retried, not failed

    await get_run(run_id).cancel()
    assert await get_run(run_id).status() == "cancelled"
    caplog.clear()
    assert await orch.advance(run_id) is None  # a finished run needs no code
    assert caplog.records == []


async def _queue_drained(world: World, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while await world.next_available_at(FLOW) is not None:
        assert time.monotonic() < deadline, "the run is still queued: it is retried"
        await asyncio.sleep(0.05)


@pytest.mark.timeout(90)
async def test_wdk_cancel_ends_an_unloadable_run_in_a_worker(
    data_dir: Path, tmp_path: Path, subprocess_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WDK_EMBEDDED_WORKER", "0")
    code = tmp_path / "code"
    code.mkdir()
    _broken_module(code)
    env = child_env(subprocess_env, WDK_LOAD_RETRY="0.05")
    env["PYTHONPATH"] = f"{code}:{env['PYTHONPATH']}"
    world = e2e_support.create_world("local", data_dir=data_dir)
    await world.open()
    worker = Worker(data_dir, env, tmp_path / "worker.log")
    try:
        run_id = await _write_run(world)
        deadline = time.monotonic() + 20
        while f"{MESSAGE} {run_id}" not in worker.log.read_text():
            assert time.monotonic() < deadline, f"the worker never tried the run: {worker.stderr()}"
            await asyncio.sleep(0.05)
        cancel = subprocess.run(
            [sys.executable, "-m", "wdk", "cancel", run_id, "--data-dir", str(data_dir)],
            env=env, capture_output=True, text=True, timeout=30,
        )
        assert (cancel.returncode, cancel.stdout.strip()) == (0, f"{run_id}: cancelled"), cancel.stderr
        info = await world.get_run(run_id)
        assert info is not None and info.status == "cancelled"
        # The worker drops the run (before: re-queued every LOAD_RETRY for ever).
        await _queue_drained(world)
    finally:
        await world.close()
        assert worker.stop() == 0
    log = worker.log.read_text()
    assert log.count(MESSAGE) == 1, log
    assert "Traceback" not in log
