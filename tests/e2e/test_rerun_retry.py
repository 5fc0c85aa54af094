"""A way back for failed runs, on both worlds: `Run.rerun(from_step)` reuses
exactly the recorded results before step N (the steps' own ledger counts
their executions), and `Run.retry()` continues a run failed by a step that
used up its retries, under the same run id."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from e2e_support import deploy, unique

from wdk import WorkflowFailed
from wdk.api import get_run, start

FLOW = '''
import json
from pathlib import Path

from wdk import FatalError


def _note(ledger: str, name: str) -> None:
    with open(ledger, "a") as f:
        f.write(json.dumps(name) + "\\n")


async def s1(ledger: str) -> int:
    "use step"
    _note(ledger, "s1")
    return 1


async def s2(ledger: str, x: int) -> int:
    "use step"
    _note(ledger, "s2")
    return x + 1


async def s3(ledger: str, x: int) -> int:
    "use step"
    _note(ledger, "s3")
    if Path(ledger + ".broken").exists():
        raise RuntimeError("s3 is broken")
    return x + 1


s3.max_retries = 1
s3.retry_delay = 0


async def s4(ledger: str, x: int) -> int:
    "use step"
    _note(ledger, "s4")
    return x * 10


async def chain(ledger: str) -> int:
    "use workflow"
    a = await s1(ledger)
    b = await s2(ledger, a)
    c = await s3(ledger, b)
    return await s4(ledger, c)
'''


@pytest.fixture
def module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    folder = tmp_path / "code"
    folder.mkdir()
    monkeypatch.syspath_prepend(str(folder))
    name = unique("reruns")
    deploy(folder, name, FLOW)
    return name


def _count(ledger: Path) -> dict[str, int]:
    counts: dict[str, int] = {}
    for line in ledger.read_text().splitlines():
        counts[json.loads(line)] = counts.get(json.loads(line), 0) + 1
    return counts


async def _failed_run(module: str, ledger: Path) -> str:
    Path(f"{ledger}.broken").touch()
    run = await start(f"workflow//{module}//chain", str(ledger))
    with pytest.raises(WorkflowFailed, match="s3 is broken"):
        await run.result(timeout=30)
    assert _count(ledger) == {"s1": 1, "s2": 1, "s3": 2}  # s3: its attempt and its one retry
    Path(f"{ledger}.broken").unlink()
    return run.id


async def test_rerun_reuses_every_completed_step_by_default(module: str, tmp_path: Path) -> None:
    ledger = tmp_path / "ledger"
    failed = await _failed_run(module, ledger)
    again = await get_run(failed).rerun()
    assert again.id != failed
    assert await again.result(timeout=30) == 30
    assert _count(ledger) == {"s1": 1, "s2": 1, "s3": 3, "s4": 1}  # only s3 and s4 ran again
    events = await again.events()
    assert events[0].payload["rerun_of"] == failed
    reused = [e for e in events if e.type == "step_completed" and e.payload.get("reused_from") == failed]
    assert [e.payload["result"] for e in reused] == [1, 2]


async def test_rerun_from_step_n_reuses_exactly_the_steps_before_n(module: str, tmp_path: Path) -> None:
    ledger = tmp_path / "ledger"
    failed = await _failed_run(module, ledger)
    again = await get_run(failed).rerun(from_step=2)
    assert await again.result(timeout=30) == 30
    assert _count(ledger) == {"s1": 1, "s2": 2, "s3": 3, "s4": 1}  # s1 reused; s2 on ran again
    started = [e for e in await again.events() if e.type == "step_started"]
    assert len(started) == 3


async def test_retry_continues_the_failed_run_under_its_id(module: str, tmp_path: Path) -> None:
    ledger = tmp_path / "ledger"
    failed = await _failed_run(module, ledger)
    run = get_run(failed)
    await run.retry()
    assert await run.result(timeout=30) == 30
    assert await run.status() == "completed"
    assert _count(ledger) == {"s1": 1, "s2": 1, "s3": 3, "s4": 1}
    types = [e.type for e in await run.events()]
    assert types.index("run_failed") < types.index("run_resumed") < types.index("run_completed")
    with pytest.raises(ValueError, match="only a failed run can be retried"):
        await run.retry()


def _wdk(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "wdk", *args], env=env, capture_output=True, text=True, timeout=60)


async def test_the_rerun_and_retry_commands(
    module: str, tmp_path: Path, data_dir: Path, subprocess_env: dict[str, str]
) -> None:
    ledger = tmp_path / "ledger"
    failed = await _failed_run(module, ledger)
    where = ["--data-dir", str(data_dir), "--path", str(tmp_path / "code")]
    done = _wdk(subprocess_env, "rerun", failed, "--from-step", "3", *where)
    assert done.returncode == 0, done.stderr
    again = get_run(done.stdout.strip())
    assert await again.result(timeout=30) == 30  # this process's runtime runs it
    assert _count(ledger) == {"s1": 1, "s2": 1, "s3": 3, "s4": 1}
    done = _wdk(subprocess_env, "retry", failed, *where)
    assert done.returncode == 0 and f"{failed}: continued" in done.stdout, done.stderr
    assert await get_run(failed).result(timeout=30) == 30
    refused = _wdk(subprocess_env, "retry", again.id, *where)
    assert refused.returncode == 1 and "only a failed run can be retried" in refused.stderr
