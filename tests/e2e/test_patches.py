"""`patched()`, `deprecate_patch()`, `on_divergence` and the deploy gate
(`wdk replay --all`), on both worlds.

The "deploy" here rewrites the workflow's module and starts a new runtime in
this process (`shutdown_runtime`): the new runtime replays the runs cold,
from their logs, against the new source, as a restarted worker would.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from e2e_support import deploy, unique, until

from wdk.api import configure, get_run, resume_hook, start
from wdk.runtime.engine import get_runtime, shutdown_runtime

STEPS = '''
from wdk import create_hook, deprecate_patch, patched


async def first() -> str:
    "use step"
    return "first"


async def new_first() -> str:
    "use step"
    return "new_first"


async def last() -> str:
    "use step"
    return "last"
'''

V1 = STEPS + '''

async def flow(token: str) -> list:
    "use workflow"
    out = [await first()]
    await create_hook(token=token)
    out.append(await last())
    return out
'''

V2 = STEPS + '''

async def flow(token: str) -> list:
    "use workflow"
    if patched("new-first"):
        out = [await new_first()]
    else:
        out = [await first()]
    await create_hook(token=token)
    out.append(await last())
    return out
'''

# Step 2 of the recipe, too early while runs from before V2 are in flight.
V3 = STEPS + '''

async def flow(token: str) -> list:
    "use workflow"
    deprecate_patch("new-first")
    out = [await new_first()]
    await create_hook(token=token)
    out.append(await last())
    return out
'''

SWAPPED = V1.replace("out = [await first()]", "out = [await last()]")


@pytest.fixture
def folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "code"
    path.mkdir()
    monkeypatch.syspath_prepend(str(path))
    return path


async def _waiting(run_id: str) -> bool:
    return any(e.type == "hook_created" for e in await get_run(run_id).events())


async def _start_waiting(module: str, token: str) -> str:
    run = await start(f"workflow//{module}//flow", token)
    await until(f"{run.id} waits on its hook", lambda: _waiting(run.id))
    return run.id


async def _redeploy(folder: Path, module: str, source: str) -> None:
    await shutdown_runtime()
    deploy(folder, module, source)
    await get_runtime()  # a new runtime: it replays every live run against the new code


async def _status(run_id: str) -> str:
    return await get_run(run_id).status()


async def test_patched_old_runs_take_the_old_branch_new_runs_the_new(folder: Path) -> None:
    module = unique("patch_branches")
    deploy(folder, module, V1)
    old = await _start_waiting(module, "old")
    await _redeploy(folder, module, V2)
    new = await _start_waiting(module, "new")
    # Replayed cold once more (a restart): each run keeps its answer.
    await _redeploy(folder, module, V2)
    await resume_hook("old", 1)
    await resume_hook("new", 2)
    assert await get_run(old).result(timeout=20) == ["first", "last"]
    assert await get_run(new).result(timeout=20) == ["new_first", "last"]
    old_events, new_events = await get_run(old).events(), await get_run(new).events()
    assert [e.payload for e in new_events if e.type == "patch_recorded"] == [{"name": "new-first"}]
    assert not any(e.type in ("patch_recorded", "run_blocked") for e in old_events)
    # Each run records the version of the code that started it.
    assert old_events[0].payload["code_version"] != new_events[0].payload["code_version"]
    assert old_events[0].payload["code_version"].startswith("src:")


async def test_deprecate_patch_too_early_blocks_with_a_clear_message(
    folder: Path, data_dir: Path, subprocess_env: dict[str, str]
) -> None:
    module = unique("patch_deprecated")
    deploy(folder, module, V1)
    old = await _start_waiting(module, "d-old")
    await _redeploy(folder, module, V2)
    new = await _start_waiting(module, "d-new")
    await _redeploy(folder, module, V3)
    await until("the old run is blocked", lambda: _is(old, "blocked"))
    blocked = [e for e in await get_run(old).events() if e.type == "run_blocked"][-1].payload
    assert "deprecate_patch('new-first') came too early" in blocked["divergence"]["message"]
    assert "Keep `if patched('new-first')`" in blocked["divergence"]["message"]
    assert blocked["divergence"]["location"].startswith(str(folder / f"{module}.py") + ":")
    # `wdk inspect` shows why, and the code version of each run.
    shown = _wdk(subprocess_env, "inspect", "run", old, "--data-dir", str(data_dir))
    assert "blocked" in shown and "deprecate_patch('new-first') came too early" in shown
    assert "history has: patched('new-first')" in shown and "code called: deprecate_patch('new-first')" in shown
    assert f"{module}.py:" in shown
    listing = _wdk(subprocess_env, "inspect", "runs", "--status", "blocked", "--json", "--data-dir", str(data_dir))
    [row] = json.loads(listing)["runs"]
    assert row["id"] == old and row["code_version"].startswith("src:")
    assert row["divergence"]["actual"] == "deprecate_patch('new-first')"
    # The run that took the new branch replays under the deprecation and finishes.
    await resume_hook("d-new", 1)
    assert await get_run(new).result(timeout=20) == ["new_first", "last"]
    # The old run's hook is still live while it is blocked.
    await resume_hook("d-old", 1)
    await _redeploy(folder, module, V2)  # step 1 of the recipe again: it finishes
    assert await get_run(old).result(timeout=20) == ["first", "last"]


async def test_a_blocked_run_is_replayed_again_only_when_its_code_changed(folder: Path) -> None:
    module = unique("patch_cheap")
    deploy(folder, module, V1)
    run_id = await _start_waiting(module, "c-1")
    await _redeploy(folder, module, SWAPPED)
    await until("the run is blocked", lambda: _is(run_id, "blocked"))
    orchestrator = (await get_runtime()).orchestrator
    replays = 0
    load = orchestrator._load

    async def counting(*args: Any, **kwargs: Any) -> Any:
        nonlocal replays
        replays += 1
        return await load(*args, **kwargs)

    orchestrator._load = counting  # type: ignore[method-assign]
    for _ in range(3):  # reconciler passes, payloads: the same code is not replayed again
        assert await orchestrator.advance(run_id) is None
    assert replays == 0
    blocks = [e for e in await get_run(run_id).events() if e.type == "run_blocked"]
    assert len(blocks) == 1
    deploy(folder, module, V2)  # new code on disk: the next pass replays it, and it resumes
    await orchestrator.advance(run_id)
    assert replays == 1
    assert await _status(run_id) == "running"


async def test_on_divergence_fail_fails_the_run(folder: Path) -> None:
    module = unique("patch_fail_mode")
    deploy(folder, module, V1)
    run_id = await _start_waiting(module, "f-1")
    configure(on_divergence="fail")
    await _redeploy(folder, module, SWAPPED)
    await until("the run failed", lambda: _is(run_id, "failed"))
    failed = [e for e in await get_run(run_id).events() if e.type == "run_failed"][-1]
    assert failed.payload["error"]["type"].endswith("NonDeterminismError")


async def _is(run_id: str, status: str) -> bool:
    return await _status(run_id) == status


def _wdk(env: dict[str, str], *args: str) -> str:
    done = subprocess.run([sys.executable, "-m", "wdk", *args], env={**env, "COLUMNS": "200"},
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def _gate(data_dir: Path, env: dict[str, str], folder: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-m", "wdk", "replay", "--all", "--data-dir", str(data_dir), "--path", str(folder), *extra]
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=60)


async def test_replay_all_exit_codes(folder: Path, data_dir: Path, subprocess_env: dict[str, str]) -> None:
    module = unique("patch_gate")
    deploy(folder, module, V1)
    configure(worker=False)  # the runs stay where they are: only the gate replays them
    await shutdown_runtime()
    ids = [(await start(f"workflow//{module}//flow", f"g-{n}")).id for n in range(2)]
    configure(worker=True)
    await shutdown_runtime()
    for run_id in ids:
        await until(f"{run_id} waits", lambda run_id=run_id: _waiting(run_id))
    await shutdown_runtime()

    ok = _gate(data_dir, subprocess_env, folder)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "2 runs replayed: 2 ok, 0 diverged" in ok.stdout

    deploy(folder, module, SWAPPED)
    bad = _gate(data_dir, subprocess_env, folder, "--status", "running,blocked")
    assert bad.returncode == 1, bad.stdout + bad.stderr
    assert bad.stdout.count("DIVERGES") == 2 and "0 ok, 2 diverged" in bad.stdout
    assert f"{module}.py:" in bad.stdout  # the user's file:line

    # Runs that do not match the filters are not replayed.
    assert _gate(data_dir, subprocess_env, folder, "--status", "completed").returncode == 0
    other = _gate(data_dir, subprocess_env, folder, "--workflow", "workflow//elsewhere//flow")
    assert other.returncode == 0 and "0 runs replayed" in other.stdout

    deploy(folder, module, V2)  # the patch makes them replay again
    assert _gate(data_dir, subprocess_env, folder).returncode == 0
