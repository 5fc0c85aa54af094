"""SIGKILL the process running an agent after its first tool call finished,
while its second model call is in flight; a new process finishes the run.
The fake server's request log and the tools' ledger show that no finished
model call and no finished tool call ran again."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import agent_flows
import pytest
from ai_support import HERE, read_stream, text_of

from wdk.ai.fake import Reply
from wdk.api import get_run


async def _until(what: str, check: Any, timeout: float = 30.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not check():
        assert loop.time() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.01)


@pytest.mark.parametrize("api", ["openai", "anthropic"])
async def test_sigkill_after_the_first_tool_call_repeats_nothing_finished(
    api: str, data_dir: Path, fake: Any, ledger: Any
) -> None:
    never = asyncio.Event()  # the first process's second model call hangs until it dies
    server, url = await fake(api, [
        Reply(text="Checking.", tool_calls=[("get_weather", '{"city": "Oslo"}')]),
        [Reply(hold=never), Reply(text="Now the time.", tool_calls=[("get_time", '{"zone": "CET"}')])],
        Reply(text="Sunny and noon in Oslo."),
    ])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(HERE), os.environ.get("PYTHONPATH", "")])}
    child = subprocess.Popen(
        [sys.executable, str(HERE / "agent_child.py"), str(data_dir), api, url],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )
    try:
        assert child.stdout is not None
        run_id = (await asyncio.to_thread(child.stdout.readline)).decode().strip()
        assert run_id, child.stderr.read().decode() if child.stderr else ""
        # Turn 1 is asked only once the tool's result is in the log.
        await _until("the second model call", lambda: any(r.turn == 1 for r in server.requests))
        assert [e["tool"] for e in ledger()] == ["get_weather"]
    finally:
        child.send_signal(signal.SIGKILL)
        await asyncio.to_thread(child.wait)
        for pipe in (child.stdout, child.stderr):
            if pipe is not None:
                pipe.close()
    assert child.returncode == -signal.SIGKILL

    from wdk.runtime.engine import get_runtime, shutdown_runtime

    await get_runtime(consume=True)  # this process takes the run over
    try:
        run = get_run(run_id)
        out = await run.result(timeout=60)
        chunks = await read_stream(run)
    finally:
        await shutdown_runtime()

    assert out["text"] == "Sunny and noon in Oslo." and out["steps"] == 3
    finished = [(r.turn, r.attempt) for r in server.requests if r.finished]
    assert finished == [(0, 0), (1, 1), (2, 0)]  # each model call answered once
    assert [(r.turn, r.finished) for r in server.requests] == [(0, True), (1, False), (1, True), (2, True)]
    assert [e["tool"] for e in ledger()] == ["get_weather", "get_time"]  # each tool ran once
    assert text_of(chunks) == "Checking.Now the time.Sunny and noon in Oslo."
    assert agent_flows.chat  # the flows module the child ran is this one
