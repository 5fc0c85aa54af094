"""Recovery from lost queue messages, broken workflow code, an unusable
store file and a tiny warm-instance cache: no run is lost or failed for it."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import sqlite3
import traceback
import uuid
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from e2e_support import child_env, query, read_ledger, run_state, start_in_child
from flows import basic
from flows import ledger as flows

from wdk import CompileError
from wdk.api import configure, get_run, start
from wdk.errors import WorldError
from wdk.runtime.engine import get_runtime

N = 8


def _drop_queue(data_dir: Path) -> int:
    """Delete every queue row with sqlite3, as a careless operator would."""
    with sqlite3.connect(data_dir / "wdk.sqlite3") as conn:
        dropped = conn.execute("DELETE FROM queue").rowcount
    conn.close()
    return dropped


def _table_counts(data_dir: Path) -> tuple[int, ...]:
    """Rows in (runs, events, queue)."""
    return tuple(
        query(data_dir, f"SELECT count(*) FROM {t}")[0][0] for t in ("runs", "events", "queue")
    )


# --- lost queue messages -------------------------------------------------------------


@pytest.mark.local_only("deletes the queue rows with sqlite3")
@pytest.mark.parametrize("phase", ["asleep", "never-leased"])
def test_dropping_every_queue_message_loses_no_run(
    phase: str, data_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """ "asleep": runs stopped mid-sleep; "never-leased": runs created by a
    client-only process that no worker ever picked up. Either way the queue is
    only a hint: the next runtime's reconciler finds the runs in the log."""
    ledger = tmp_path / "ledger.jsonl"
    monkeypatch.setenv("LEDGER_PATH", str(ledger))
    if phase == "never-leased":
        monkeypatch.setenv("WDK_EMBEDDED_WORKER", "0")

    async def begin() -> list[str]:
        runs = [await start(flows.napping_chain, i, 0.5) for i in range(N)]
        if phase == "asleep":
            for run in runs:
                while not any(e.type == "wait_created" for e in await run.events()):
                    await asyncio.sleep(0.01)
        await (await get_runtime()).stop()
        return [run.id for run in runs]

    run_ids = asyncio.run(begin())
    monkeypatch.delenv("WDK_EMBEDDED_WORKER", raising=False)
    statuses = {s for (s,) in query(data_dir, "SELECT status FROM runs")}
    assert statuses == ({"running"} if phase == "asleep" else {"pending"})
    assert _drop_queue(data_dir) == N
    assert _table_counts(data_dir)[2] == 0

    async def finish() -> list[Any]:
        try:
            return [await get_run(run_id).result(timeout=20) for run_id in run_ids]
        finally:
            await (await get_runtime()).stop()

    assert asyncio.run(finish()) == [flows.expected(i) for i in range(N)]
    calls = Counter((line["run"], line["corr"]) for line in read_ledger(ledger))
    assert len(calls) == N * flows.STEPS and set(calls.values()) == {1}


# --- broken workflow code --------------------------------------------------------------

BROKEN = {
    "syntax": ('async def wf(x: int) -> int:\n    "use workflow"\n    return x +\n', 3),
    "sync-workflow": ('def wf(x: int) -> int:\n    "use workflow"\n    return x\n', 1),
}


def _module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, source: str) -> tuple[str, Path]:
    """A workflow module under a fresh name (the process-wide loader caches by name)."""
    mods = tmp_path / "mods"
    mods.mkdir(exist_ok=True)
    name = f"wdk_e2e_mod_{uuid.uuid4().hex[:10]}"
    path = mods / f"{name}.py"
    path.write_text(source)
    monkeypatch.syspath_prepend(str(mods))
    return name, path


@pytest.mark.local_only("counts rows in the SQLite file")
@pytest.mark.parametrize("case", sorted(BROKEN))
async def test_start_with_uncompilable_module_names_the_line_and_writes_nothing(
    case: str, data_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source, line = BROKEN[case]
    name, path = _module(tmp_path, monkeypatch, source)
    with pytest.raises(CompileError) as info:
        await start(f"workflow//{name}//wf", 1)
    assert f"{path}:{line}:" in str(info.value)
    assert _table_counts(data_dir) == (0, 0, 0)


@pytest.mark.local_only("counts rows in the SQLite file")
async def test_start_with_unimportable_module_raises_and_writes_nothing(
    data_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(LookupError, match="cannot find the source of module 'wdk_e2e_absent'"):
        await start("workflow//wdk_e2e_absent//wf")
    source = 'import wdk_e2e_no_such_dependency\n\n\nasync def wf() -> int:\n    "use workflow"\n    return 1\n'
    _, path = _module(tmp_path, monkeypatch, source)
    with pytest.raises(ImportError, match="wdk_e2e_no_such_dependency") as info:
        await start(f"workflow//{path.stem}//wf")
    # The traceback points at the offending import in the user's file.
    assert (str(path), 1) in [(f.filename, f.lineno) for f in traceback.extract_tb(info.tb)]
    assert _table_counts(data_dir) == (0, 0, 0)


GOOD = """
import os

from wdk import sleep


async def bump(x: int) -> int:
    "use step"
    with open(os.environ["BUMP_LEDGER"], "a") as f:
        f.write(f"{x}\\n")
    return x + 1


async def wf(x: int) -> int:
    "use workflow"
    y = await bump(x)
    await sleep(0.2)
    return await bump(y * 10)
"""

BREAKS: dict[str, Callable[[str], str]] = {
    "syntax": lambda s: s + "\ndef oops(:\n",
    "import": lambda s: "import wdk_e2e_no_such_dependency\n" + s,
}


@pytest.mark.parametrize("breakage", sorted(BREAKS))
async def test_run_whose_module_broke_waits_for_the_fix(
    breakage: str,
    data_dir: Path,
    tmp_path: Path,
    subprocess_env: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    name, path = _module(tmp_path, monkeypatch, GOOD)
    bumps = tmp_path / "bumps.txt"
    monkeypatch.setenv("BUMP_LEDGER", str(bumps))
    env = child_env(subprocess_env, BUMP_LEDGER=str(bumps))
    env["PYTHONPATH"] = f"{path.parent}:{env['PYTHONPATH']}"

    # Process 1 starts the run and dies while it sleeps; then the code breaks.
    child = start_in_child(data_dir, f"{name}:wf", [4], env, kill_at_event="wait_created")
    assert child.status < 0, child.stderr
    path.write_text(BREAKS[breakage](GOOD))
    _, before = await run_state(data_dir, child.run_id)

    # This process resumes it, cannot load the code, says so and retries
    # (every 0.1 s here, not every LOAD_RETRY) without touching the run.
    configure(load_retry=0.1)
    caplog.set_level(logging.DEBUG, logger="wdk")  # retries after the first are logged quietly
    rt = await get_runtime()
    message = f"cannot load the workflow of run {child.run_id}"
    for _ in range(200):
        if sum(message in r.getMessage() for r in caplog.records) >= 3:
            break
        await asyncio.sleep(0.05)
    else:
        pytest.fail(f"the run was not retried: {caplog.text}")
    errors = [r for r in caplog.records if message in r.getMessage() and r.levelno >= logging.ERROR]
    assert len(errors) == 1  # said once, not on every retry
    assert await get_run(child.run_id).status() == "running"
    _, after = await run_state(data_dir, child.run_id)
    assert [e.seq for e in after] == [e.seq for e in before]

    # Fixed code: the next retry finishes the run; bump(4) ran once, before the crash.
    path.write_text(GOOD)
    assert await get_run(child.run_id).result(timeout=10) == 51
    assert bumps.read_text().split() == ["4", "50"]
    await rt.stop()


# --- an unusable store file --------------------------------------------------------------


def _foreign_db(path: Path) -> None:
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT)")
        conn.execute("INSERT INTO customers (name) VALUES ('ada')")
    conn.close()


STORES: dict[str, tuple[Callable[[Path], object], str]] = {
    # A SQLite header over garbage: SQLite itself calls it "not a database".
    "corrupt": (
        lambda p: p.write_bytes(b"SQLite format 3\x00" + bytes(range(256)) * 16),
        "is not a SQLite database",
    ),
    "not-sqlite": (
        lambda p: p.write_bytes(b"hello, I am a text file\n" * 50),
        "is not a SQLite database",
    ),
    "foreign-sqlite": (_foreign_db, "is not a wdk store"),
}


@pytest.mark.local_only("corrupts the SQLite file")
@pytest.mark.parametrize("kind", sorted(STORES))
async def test_unusable_store_file_is_a_clear_error_and_left_untouched(
    kind: str, data_dir: Path
) -> None:
    data_dir.mkdir(parents=True)
    store = data_dir / "wdk.sqlite3"
    write, says = STORES[kind]
    write(store)
    digest = hashlib.sha256(store.read_bytes()).hexdigest()
    with pytest.raises(WorldError) as info:
        await start(basic.three_steps, 1)
    assert f"{store} {says}" in str(info.value)
    assert hashlib.sha256(store.read_bytes()).hexdigest() == digest
    assert sorted(p.name for p in data_dir.iterdir()) == ["wdk.sqlite3"]


# --- warm-instance cache of one --------------------------------------------------------------


async def test_evicted_runs_replay_cold_without_rerunning_steps(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ledger = tmp_path / "ledger.jsonl"
    monkeypatch.setenv("LEDGER_PATH", str(ledger))
    monkeypatch.setenv("WDK_WARM_RUNS", "1")
    rt = await get_runtime()
    loads = Counter[str]()
    load = rt.loader.workflow_function

    def counting(workflow_id: str) -> Any:
        loads[workflow_id] += 1
        return load(workflow_id)

    monkeypatch.setattr(rt.loader, "workflow_function", counting)
    # Different naps interleave the runs, so each wake finds another run cached.
    runs = [await start(flows.napping_chain, i, 0.05 + 0.03 * (i % 3)) for i in range(N)]
    results = await asyncio.gather(*(run.result(timeout=20) for run in runs))
    assert results == [flows.expected(i) for i in range(N)]
    assert len(rt.orchestrator._cache) <= 1
    # Warm, each run loads once (start(); its first advance here begins with
    # that function); here at least N of the 2N wakes from a sleep found the
    # run evicted and replayed it, loading it again.
    assert sum(loads.values()) >= 2 * N
    calls = Counter((line["run"], line["corr"]) for line in read_ledger(ledger))
    assert len(calls) == N * flows.STEPS and set(calls.values()) == {1}
