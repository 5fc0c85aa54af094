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

from wdk.api import get_run, resume_hook, start, start_with
from wdk.runtime import runs
from wdk.runtime.engine import get_runtime, shutdown_runtime
from wdk.runtime.flow_control import Limit
from wdk.runtime.limiter import LINGER

WORKERS = {"postgres": 4, "local": 2}
IN_LINE = Limit("concurrency", "step//flows.limited//in_line", 1).queue  # limited.in_line's slots


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
    gate = tmp_path / "gate"
    blocker = await start(limited.queued, "blocker", str(gate))  # holds the slot until the gate opens
    await until("the blocker holds the slot", lambda: _slot_taken(blocker))
    order = [3, 1, 5, 2, 4]
    runs = [await start_with(priority=p)(limited.queued, str(p)) for p in order]
    limiter = (await get_runtime()).orchestrator.limits.get_limiter()
    await until("all five wait for the slot", lambda: _waiting(limiter, IN_LINE) == 5)
    gate.touch()
    spans = await _results([blocker, *runs])
    ran = [s["tag"] for s in sorted(spans[1:], key=lambda s: s["t0"])]
    assert ran == ["5", "4", "3", "2", "1"], spans
    # What the step waited for is in its log, with the run's priority.
    events = await runs[2].events()
    assert events[0].payload["priority"] == 5
    [started] = [e for e in events if e.type == "step_started"]
    assert started.payload["limits"] == [
        {"kind": "concurrency", "scope": "step//flows.limited//in_line", "limit": 1, "key": None, "per": 0.0}
    ]


def _waiting(limiter: Any, queue: str) -> int:
    gate = limiter._gates.get(queue)
    return 0 if gate is None else int(gate._live())


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


@pytest.mark.timeout(120)
async def test_a_run_queued_again_keeps_its_priority(
    worker_env: dict[str, str], data_dir: Path, tmp_path: Path, e2e_world: str
) -> None:
    # This process only starts runs (a client); the queue's order is the
    # world's: runs wait with no worker, then one worker takes them one by one.
    with workers(data_dir, worker_env, tmp_path, 1):
        resumed = await start_with(priority=10)(limited.hooked, f"prio-{e2e_world}")
        await until("the run waits on its hook", lambda: _has_event(resumed, "hook_created"))
    lows = [await start(limited.plain, i) for i in range(4)]  # queued first, at priority 0
    await resume_hook(f"prio-{e2e_world}", "go")  # a new message for the run: at its priority 10
    # A run whose message was lost (the reconciler queues it again): priority 10 too.
    rt = await get_runtime()
    new, _ = runs.prepare_run(rt.loader, rt.loader.workflow_id_of(limited.plain), ("lost",), {}, priority=10)
    await rt.world.create_run(new)
    assert await rt.reconcile() == 6
    lost = get_run(new.run_id)
    (tmp_path / "again").mkdir()
    with workers(data_dir, worker_env, tmp_path / "again", 1, ("--concurrency", "1")):
        spans = await _results([resumed, lost, *lows])
    first, rest = spans[:2], spans[2:]
    assert max(s["t0"] for s in first) < min(s["t0"] for s in rest), spans
    await shutdown_runtime()


async def _has_event(run: Any, kind: str) -> bool:
    return any(e.type == kind for e in await run.events())


@pytest.mark.timeout(120)
async def test_waiters_keep_their_order_across_worker_processes(
    worker_env: dict[str, str], data_dir: Path, tmp_path: Path, e2e_world: str
) -> None:
    # Concurrency(1): worker A holds the slot and has 4 low-priority waiters;
    # then worker B gets 2 high-priority ones. When the slot frees, B's go
    # first, though A released it and A's waited longer.
    gate = tmp_path / "gate"
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    with workers(data_dir, worker_env, tmp_path / "a", 1, ("--concurrency", "5")) as (a,):
        blocker = await start(limited.queued, "blocker", str(gate))
        await until("the blocker holds the slot", lambda: _slot_taken(blocker))
        lows = [await start(limited.queued, f"low{i}") for i in range(4)]  # A is full now (5 runs)
        await until("A's waiters wait", lambda: _all_began(lows))
        with workers(data_dir, worker_env, tmp_path / "b", 1, ("--concurrency", "5")) as (b,):
            highs = [await start_with(priority=10)(limited.queued, f"high{i}") for i in range(2)]
            await until("B's waiters wait", lambda: _all_began(highs))
            world = (await get_runtime()).world
            await until("B's place is in the line", lambda: _best_place(world, 10))
            # A passes a released slot to its own waiter only for LINGER after
            # its last look at the line: from now on its looks see B's place.
            await asyncio.sleep(3 * LINGER)
            gate.touch()
            spans = await _results([blocker, *highs, *lows])
    assert {s["pid"] for s in spans[1:3]} == {b.pid} and {s["pid"] for s in spans[3:]} == {a.pid}
    ran = [s["tag"] for s in sorted(spans, key=lambda s: s["t0"])]
    # (B may take its two runs in one lease: which of them asked first is open.)
    assert ran[0] == "blocker" and set(ran[1:3]) == {"high0", "high1"}, ran
    assert limited.max_overlap([(s["t0"], s["t1"]) for s in spans]) == 1
    await shutdown_runtime()


async def _best_place(world: Any, priority: int) -> bool:
    # A place that is never ahead leases nothing and sees the best other place.
    _, best = await world.lease_in_line(IN_LINE, "probe", [(-(2**31), 0.0)], lease_for=1.0)
    return best is not None and best[0] == priority


async def _slot_taken(blocker: Any) -> bool:
    # Its step began and the one slot is leased: the blocker's (nobody else asked yet).
    world = (await get_runtime()).world
    return await _step_began(blocker) and (await world.queue_depth(IN_LINE)).leased == 1


async def _step_began(run: Any) -> bool:
    return await _has_event(run, "step_started")


async def _all_began(runs_: list[Any]) -> bool:
    return all([await _has_event(r, "step_started") for r in runs_])
