"""Guarantee: a step attempt never starts while an earlier attempt of the same
step is alive in a healthy worker.

Whatever reaches a run while one of its steps runs -- a hook payload, a
webhook request, a durable wait ending, a child run finishing, a duplicate
start, a cancel -- the running attempt is left alone: each step runs once.
Steps run inline (one at a time) or as tasks (several at once): both paths.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
from e2e_support import until as _until
from flows import overlap

from wdk import WorkflowCancelled
from wdk.api import Run, resume_hook, resume_webhook, start
from wdk.runtime.webhooks import WebhookRequest

DEADLINE = 20.0


def _lines(ledger: Path) -> list[str]:
    return ledger.read_text().split() if ledger.exists() else []


async def _events(run: Run, kind: str) -> list[object]:
    return [e for e in await run.events() if e.type == kind]


def _running(ledger: Path, parallel: bool) -> object:
    """A check: the test's steps (one, or two at once) have started."""
    return lambda: len(_lines(ledger)) >= (2 if parallel else 1)


async def _each_step_ran_once(run: Run, ledger: Path) -> None:
    counts = Counter(_lines(ledger))
    assert counts and all(n == 1 for n in counts.values()), f"steps ran more than once: {counts}"
    started = [e.payload.get("attempt") for e in await run.events() if e.type == "step_started"]
    assert all(a == 1 for a in started), f"a step started again: attempts {started}"


@pytest.fixture
def files(tmp_path: Path) -> tuple[Path, Path]:
    return tmp_path / "ledger", tmp_path / "gate"


@pytest.mark.parametrize("parallel", [False, True], ids=["inline", "tasks"])
async def test_hook_payload_while_step_runs(files: tuple[Path, Path], parallel: bool) -> None:
    ledger, gate = files
    token = f"ov-{parallel}"
    run = await start(overlap.on_hook, str(ledger), str(gate), token, parallel)
    await _until("the hook", lambda: _events(run, "hook_created"))
    await resume_hook(token, "p1")
    await _until("the first step", _running(ledger, parallel))
    await resume_hook(token, "p2")  # arrives while the step runs
    await _until("p2 recorded", lambda: _has_two(run))
    gate.touch()
    result = await run.result(timeout=DEADLINE)
    assert len(result) == (4 if parallel else 2)
    await _each_step_ran_once(run, ledger)


async def _has_two(run: Run) -> bool:
    return len(await _events(run, "hook_received")) >= 2


@pytest.mark.parametrize("parallel", [False, True], ids=["inline", "tasks"])
async def test_webhook_request_while_step_runs(files: tuple[Path, Path], parallel: bool) -> None:
    ledger, gate = files
    run = await start(overlap.on_webhook, str(ledger), str(gate), parallel)
    await _until("the step", _running(ledger, parallel))
    token = str((await _events(run, "hook_created"))[0].payload["token"])  # type: ignore[attr-defined]
    await resume_webhook(token, WebhookRequest.make("POST", body="hello"))
    await _until("the request recorded", lambda: _events(run, "hook_received"))
    gate.touch()
    result = await run.result(timeout=DEADLINE)
    assert result[-1] == "hello"
    await _each_step_ran_once(run, ledger)


@pytest.mark.parametrize("parallel", [False, True], ids=["inline", "tasks"])
async def test_wait_ending_while_step_runs(files: tuple[Path, Path], parallel: bool) -> None:
    ledger, gate = files
    run = await start(overlap.with_wait, str(ledger), str(gate), parallel)
    await _until("the wait to end", lambda: _events(run, "wait_completed"))
    gate.touch()
    assert await run.result(timeout=DEADLINE) == (["a", "b"] if parallel else ["a"])
    await _each_step_ran_once(run, ledger)


@pytest.mark.parametrize("parallel", [False, True], ids=["inline", "tasks"])
async def test_child_finishing_while_step_runs(files: tuple[Path, Path], parallel: bool) -> None:
    ledger, gate = files
    run = await start(overlap.with_child, str(ledger), str(gate), parallel)
    await _until("the step", _running(ledger, parallel))
    await _until("the child to start", lambda: _child_id(run))
    child_id = await _child_id(run)
    assert child_id is not None
    await _until("the child to finish", lambda: _completed(child_id))
    gate.touch()
    assert (await run.result(timeout=DEADLINE))[-1] == "child"
    await _each_step_ran_once(run, ledger)


async def _child_id(run: Run) -> str | None:
    for e in await run.events():
        if e.type == "step_completed" and str(e.payload.get("result", "")).startswith("wrun_"):
            return str(e.payload["result"])
    return None


async def _completed(run_id: str) -> bool:
    from wdk.api import get_run

    return await get_run(run_id).status() == "completed"


@pytest.mark.parametrize("parallel", [False, True], ids=["inline", "tasks"])
async def test_duplicate_start_while_step_runs(files: tuple[Path, Path], parallel: bool) -> None:
    ledger, gate = files
    args = (str(ledger), str(gate), parallel)
    run = await start(overlap.plain, *args, idempotency_key="dup")
    await _until("the step", _running(ledger, parallel))
    again = await start(overlap.plain, *args, idempotency_key="dup")
    assert again.id == run.id
    gate.touch()
    await run.result(timeout=DEADLINE)
    await _each_step_ran_once(run, ledger)


@pytest.mark.parametrize("parallel", [False, True], ids=["inline", "tasks"])
async def test_cancel_while_step_runs(files: tuple[Path, Path], parallel: bool) -> None:
    ledger, gate = files
    run = await start(overlap.plain, str(ledger), str(gate), parallel)
    await _until("the step", _running(ledger, parallel))
    await run.cancel()
    with pytest.raises(WorkflowCancelled):
        await run.result(timeout=DEADLINE)
    gate.touch()
    assert len(_lines(ledger)) == (2 if parallel else 1)
    await _each_step_ran_once(run, ledger)
