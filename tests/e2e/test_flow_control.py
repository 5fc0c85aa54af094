"""Flow control across processes: `wdk worker` processes (4 on postgres, 2 on
the local world) share one world; the steps measure themselves (wall-clock
start and end, pid) and the test checks what ran at once.

- Concurrency(3): 200 runs, at most (and, with this much work, exactly) 3 at once;
- Concurrency(1, key=...): never two of one key at once, two keys at once;
- RateLimit(10, per="1s"): no 1-second window with more than 10 starts, none dropped;
- a worker SIGKILLed while its step holds a slot: the slot comes back (after
  its lease on postgres, at once on the local world, which sees the pid die)
  and every run finishes.
In one process: priority order with Concurrency(1), debounced starts."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import pytest
from e2e_support import child_env, read_ledger, until, workers
from flows import limited

from wdk.api import get_run, start, start_with
from wdk.runtime.engine import shutdown_runtime

WORKERS = {"postgres": 4, "local": 2}


@pytest.fixture
def worker_env(subprocess_env: dict[str, str], data_dir: Path, tmp_path: Path, e2e_world: str,
               monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    monkeypatch.setenv("WDK_EMBEDDED_WORKER", "0")  # this process starts runs; the workers run them
    return child_env(
        subprocess_env, LEDGER_PATH=str(tmp_path / "ledger.jsonl"), WDK_LEASE_SECONDS="1.5",
        WDK_DATA_DIR=str(data_dir), WDK_EMBEDDED_WORKER="1",
        WDK_POSTGRES_POOL="4",  # 4 workers on a server other test suites share: few connections each
    )


async def _results(runs: list[Any], timeout: float = 60) -> list[dict[str, Any]]:
    return list(await asyncio.gather(*(r.result(timeout=timeout) for r in runs)))


@pytest.mark.timeout(120)
async def test_limits_hold_across_worker_processes(
    worker_env: dict[str, str], data_dir: Path, tmp_path: Path, e2e_world: str
) -> None:
    n = WORKERS[e2e_world]
    with workers(data_dir, worker_env, tmp_path, n, ("--concurrency", "20")):
        # Concurrency(3): 200 runs.
        runs = await asyncio.gather(*(start(limited.limited, i) for i in range(200)))
        spans = await _results(runs)
        assert len(spans) == 200
        assert limited.max_overlap([(s["t0"], s["t1"]) for s in spans]) == 3
        assert len({s["pid"] for s in spans}) == n  # every worker took part

        # Concurrency(1) per key: one at a time per key, keys side by side.
        keys = ("a", "b", "c")
        runs = await asyncio.gather(*(start(limited.keyed, i, keys[i % 3]) for i in range(60)))
        spans = await _results(runs)
        for key in keys:
            assert limited.max_overlap([(s["t0"], s["t1"]) for s in spans if s["tag"] == key]) == 1
        assert limited.max_overlap([(s["t0"], s["t1"]) for s in spans]) > 1

        # RateLimit(10, per="1s"): 30 starts take 2 s and more, none dropped.
        runs = await asyncio.gather(*(start(limited.rated, i) for i in range(30)))
        rated = await _results(runs)
        starts = sorted(s["t0"] for s in rated)
        assert len(starts) == 30
        assert all(starts[i + 10] - starts[i] >= 1.0 for i in range(len(starts) - 10)), starts
        await shutdown_runtime()


@pytest.mark.timeout(120)
async def test_a_slot_held_by_a_killed_worker_comes_back(
    worker_env: dict[str, str], data_dir: Path, tmp_path: Path, e2e_world: str
) -> None:
    n = WORKERS[e2e_world]
    ledger = tmp_path / "ledger.jsonl"
    with workers(data_dir, worker_env, tmp_path, n, ("--concurrency", "20")) as started:
        # Steps of 0.6 s: a step seen starting less than 0.2 s ago is still
        # running when the kill lands, even on a loaded machine.
        runs = await asyncio.gather(*(start(limited.limited, i, 0.6) for i in range(15)))

        def holder() -> int | None:
            lines = read_ledger(ledger)
            ended = {(x["run"], x["pid"]) for x in lines if x["ev"] == "end"}
            fresh = [
                x for x in lines
                if x["ev"] == "start" and (x["run"], x["pid"]) not in ended and x["t"] > time.time() - 0.2
            ]
            return fresh[0]["pid"] if len(lines) > 3 and fresh else None

        pid = await until("a step holding a slot", holder)
        victim = next(w for w in started if w.pid == pid)
        victim.proc.kill()
        killed_at = time.time()
        victim.proc.wait(5)
        spans = await _results(runs)
        # The killer's attempt counts as running until it died.
        lines = read_ledger(ledger)
        ended = {(x["run"], x["pid"]) for x in lines if x["ev"] == "end"}
        cut = [(x["t"], killed_at) for x in lines if x["ev"] == "start" and (x["run"], x["pid"]) not in ended]
        assert cut, "the victim held no slot"
        assert len(spans) == 15 and all(s["pid"] != victim.pid for s in spans if s["t0"] > killed_at)
        assert limited.max_overlap([(s["t0"], s["t1"]) for s in spans] + cut) <= 3
        await shutdown_runtime()
        victim.proc.returncode = 0  # `workers` checks the others exited cleanly


async def test_priority_order_holds_with_concurrency_one(tmp_path: Path) -> None:
    blocker = await start(limited.serial, 0, 0.5)  # holds the slot while the others queue
    ledger_wait = [blocker]
    await until("the blocker holds the slot", lambda: _status_running(blocker))
    order = [3, 1, 5, 2, 4]
    runs = [await start_with(priority=p)(limited.serial, p) for p in order]
    spans = await _results([*ledger_wait, *runs])
    ran = [s["tag"] for s in sorted(spans[1:], key=lambda s: s["t0"])]
    assert ran == [5, 4, 3, 2, 1]
    # What the step waited for is in its log, with the run's priority.
    events = await runs[2].events()
    assert events[0].payload["priority"] == 5
    [started] = [e for e in events if e.type == "step_started"]
    assert started.payload["limits"] == [
        {"kind": "concurrency", "scope": "step//flows.limited//one_at_a_time", "limit": 1, "key": None, "per": 0.0}
    ]


async def _status_running(run: Any) -> bool:
    return bool(await run.status() == "running")


async def test_debounced_starts_make_one_run_with_the_last_arguments() -> None:
    runs = [await start_with(debounce=("3s", "k"))(limited.echo, f"v{i}") for i in range(5)]
    assert len({r.id for r in runs}) == 1
    assert await runs[0].result(timeout=10) == "v4"
    later = await start_with(debounce=("0.2s", "k"))(limited.echo, "again")
    assert later.id != runs[0].id  # the window closed: a new run
    assert await later.result(timeout=10) == "again"
    other = await start_with(debounce=("0.2s", "other"))(limited.echo, "x")
    assert other.id != later.id
    assert await get_run(other.id).result(timeout=10) == "x"


async def test_a_workflow_limit_counts_active_runs_not_sleeping_ones() -> None:
    runs = [await start(limited.one_run_at_once, i) for i in range(4)]
    results = await _results(runs)
    spans = [(s["t0"], s["t1"]) for pair in results for s in pair]
    assert limited.max_overlap(spans) == 1  # advanced one at a time
    # ... but a run asleep between its steps let the others through:
    naps = [(pair[0]["t1"], pair[1]["t0"]) for pair in results]
    others = [[(s["t0"], s["t1"]) for j, pair in enumerate(results) if j != i for s in pair] for i in range(4)]
    assert any(a <= t0 and t1 <= b for (a, b), spans_ in zip(naps, others, strict=True) for t0, t1 in spans_)
    created = (await runs[0].events())[0]
    assert created.payload["limits"] == [
        {"kind": "concurrency", "scope": "workflow//flows.limited//one_run_at_once", "limit": 1, "key": None, "per": 0.0}
    ]


async def test_a_workflow_rate_limit_counts_starts_not_wake_ups() -> None:
    runs = [await start(limited.two_an_hour, i) for i in range(2)]
    assert len(await _results(runs, timeout=20)) == 2  # four advances each, two tokens in all
