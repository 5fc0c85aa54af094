"""Schedules on an injected clock, on both worlds: one run per tick however
many schedulers (here: two processes), overlap policies, catch-up after a gap,
and DST changes in the schedule's zone."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from e2e_support import E2E, child_env, until, workers
from flows import scheduled

import wdk
from wdk.runtime import schedules
from wdk.runtime.engine import Runtime, get_runtime, shutdown_runtime
from wdk.runtime.schedules import Schedule, Scheduler, next_fire, set_paused, ticks_between

REPORT = "workflow//flows.scheduled//report"
LONG = "workflow//flows.scheduled//long_report"
T0 = datetime(2026, 6, 1, 12, 0, 30, tzinfo=ZoneInfo("UTC")).timestamp()  # 30 s past a minute


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def rt() -> AsyncIterator[Runtime]:
    yield await get_runtime()
    # Stopped here, not by the loop's teardown cancelling every task at once
    # (then the postgres pool waits its 5 s close timeout for a connection).
    await shutdown_runtime()


def _scheduler(rt: Runtime, clock: Clock, *specs: Schedule) -> Scheduler:
    async def start(workflow_id: str, key: str) -> str:
        return await rt.start_run(workflow_id, (), {}, idempotency_key=key)

    return Scheduler(rt.world, start, clock=clock, schedules=list(specs))


async def _runs(rt: Runtime, workflow_id: str) -> list[str]:
    page = await rt.world.list_runs(workflow_id=workflow_id, limit=1000)
    return [r.id for r in page.items]


async def test_two_schedulers_in_one_process_start_one_run_per_tick(rt: Runtime) -> None:
    clock = Clock(T0)
    every_minute = Schedule("m", REPORT, "* * * * *", overlap="allow")
    a, b = _scheduler(rt, clock, every_minute), _scheduler(rt, clock, every_minute)
    assert await a.tick() == [] and await b.tick() == []  # first sight: nothing owed
    started: list[str] = []
    for _ in range(4):
        clock.now += 60
        got = await asyncio.gather(a.tick(), b.tick())
        started += [run for ids in got for run in ids]
    runs = await _runs(rt, REPORT)
    assert len(runs) == 4 and set(started) == set(runs)


async def test_two_scheduler_processes_start_one_run_per_tick(
    rt: Runtime, tmp_path: Path, data_dir: Path, subprocess_env: dict[str, str], e2e_world: str
) -> None:
    clock_file = tmp_path / "clock"
    env = child_env(subprocess_env, WDK_DATA_DIR=str(data_dir), WDK_WORLD=e2e_world)
    cmd = [sys.executable, str(E2E / "schedule_child.py"), str(clock_file), "every10s", "* * * * * */10"]
    logs = [open(tmp_path / f"scheduler{i}.log", "wb") for i in range(2)]
    procs = [subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=log) for log in logs]
    try:
        for p in procs:
            assert p.stdout is not None and p.stdout.readline().strip() == b"ready", _logs(tmp_path)
        lines: list[bytes] = []
        for i in range(6):
            stamp = f"{T0 + i * 10:.1f}"
            clock_file.write_text(stamp)
            for p in procs:
                assert p.stdout is not None
                line = p.stdout.readline()
                assert line.split()[:2] == [b"ticked", stamp.encode()], (line, _logs(tmp_path))
                lines.append(line)
        clock_file.write_text("stop")
        assert [p.wait(20) for p in procs] == [0, 0]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
            assert p.stdout is not None
            p.stdout.close()
        for log in logs:
            log.close()
    runs = await _runs(rt, REPORT)
    assert len(runs) == 5  # ticks at +10 .. +50 (the first pass only records where it starts)
    reported = {w.decode() for line in lines for w in line.split()[2:]}
    assert reported == set(runs)


def _logs(tmp_path: Path) -> str:
    return "\n".join(p.read_text(errors="replace")[-2000:] for p in sorted(tmp_path.glob("scheduler*.log")))


async def test_skip_drops_a_tick_that_overlaps_a_running_run(rt: Runtime) -> None:
    clock = Clock(T0)
    s = _scheduler(rt, clock, Schedule("skip", LONG, "* * * * *", overlap="skip"))
    await s.tick()
    clock.now += 60
    [first] = await s.tick()
    clock.now += 60
    assert await s.tick() == []  # the first run still sleeps: this tick is dropped
    await rt.cancel(first)
    clock.now += 60
    assert len(await s.tick()) == 1
    assert len(await _runs(rt, LONG)) == 2


async def test_buffer_one_starts_the_latest_overlapping_tick_when_the_run_ends(rt: Runtime) -> None:
    clock = Clock(T0)
    s = _scheduler(rt, clock, Schedule("buf", LONG, "* * * * *", overlap="buffer_one"))
    await s.tick()
    clock.now += 60
    [first] = await s.tick()
    for _ in range(3):
        clock.now += 60
        assert await s.tick() == []  # kept (only the latest), not started
    await rt.cancel(first)
    assert len(await s.tick()) == 1
    assert len(await _runs(rt, LONG)) == 2


@pytest.mark.parametrize(("catchup", "runs"), [(None, 1), (1, 2), (True, 3), ("150s", 3), ("90s", 2)])
async def test_catch_up_after_a_three_tick_gap(rt: Runtime, catchup: object, runs: int) -> None:
    clock = Clock(T0)
    name = f"catchup-{catchup}"
    s = _scheduler(rt, clock, Schedule(name, REPORT, "* * * * *", overlap="allow", catchup=catchup))  # type: ignore[arg-type]
    await s.tick()
    clock.now += 3 * 60  # down for three ticks
    started = await s.tick()
    assert len(started) == runs
    assert await s.tick() == []  # nothing owed twice


@pytest.mark.local_only("the calendar arithmetic is the same on both worlds")
@pytest.mark.parametrize("day", ["2026-03-29", "2026-10-25"])  # spring forward, fall back in Paris
async def test_a_dst_change_fires_once(rt: Runtime, day: str) -> None:
    paris = ZoneInfo("Europe/Paris")
    start = datetime.fromisoformat(f"{day}T00:00:00").replace(tzinfo=paris).timestamp() - 12 * 3600
    clock = Clock(start)
    at_230 = Schedule("dst", REPORT, "30 2 * * *", tz="Europe/Paris")
    hourly = Schedule("dst-hourly", REPORT, "0 * * * *", tz="Europe/Paris", overlap="allow")
    s = _scheduler(rt, clock, at_230)
    await s.tick()
    fired: list[float] = []
    for _ in range(36 * 6):  # 36 hours in 10-minute steps
        clock.now += 600
        if await s.tick():
            fired.append(clock.now)
    assert len(fired) == 1, [datetime.fromtimestamp(t, paris) for t in fired]
    # The wall-clock hours of that day: 24 labels (a repeated one once, a skipped one once).
    day_start = datetime.fromisoformat(f"{day}T00:00:00").replace(tzinfo=paris).timestamp()
    day_end = datetime.fromisoformat(f"{day}T23:59:59").replace(tzinfo=paris).timestamp()
    hours = ticks_between(hourly, day_start - 1, day_end)
    assert len({datetime.fromtimestamp(t, paris).strftime("%H") for t in hours}) == len(hours)
    assert 23 <= len(hours) <= 24


async def test_pause_and_resume(rt: Runtime) -> None:
    clock = Clock(T0)
    s = _scheduler(rt, clock, Schedule("p", REPORT, "* * * * *", overlap="allow"))
    await s.tick()
    await set_paused(rt.world, "p", True)
    clock.now += 120
    assert await s.tick() == []
    state = await rt.world.get_schedule("p")
    assert state is not None and state.paused
    await set_paused(rt.world, "p", False)
    # Resumed: the ticks while paused are not owed; the next one fires.
    clock.now = max(clock.now, (await rt.world.get_schedule("p")).last_tick or 0) + 60  # type: ignore[union-attr]
    assert len(await s.tick()) == 1


@pytest.mark.local_only("declaration only")
def test_schedule_declares_and_validates() -> None:
    try:
        declared = wdk.schedule(scheduled.report, cron="0 9 * * MON", tz="Europe/Paris", name="weekly-test")
        assert declared in schedules.declared_schedules()
        assert declared.workflow_id == REPORT
        nxt = next_fire(declared, T0)
        assert nxt is not None and datetime.fromtimestamp(nxt, ZoneInfo("Europe/Paris")).strftime("%a %H:%M") == "Mon 09:00"
    finally:
        schedules._declared.pop("weekly-test", None)
    with pytest.raises(ValueError, match="cron"):
        wdk.schedule(scheduled.report, cron="not cron")
    with pytest.raises(ValueError, match="overlap"):
        wdk.schedule(scheduled.report, cron="* * * * *", overlap="sometimes")  # type: ignore[arg-type]
    with pytest.raises(Exception, match="Nowhere"):
        wdk.schedule(scheduled.report, cron="* * * * *", tz="Nowhere/Town")


@pytest.mark.timeout(60)
async def test_a_worker_fires_the_schedules_of_the_modules_it_imports(
    rt: Runtime, tmp_path: Path, data_dir: Path, subprocess_env: dict[str, str]
) -> None:
    env = child_env(subprocess_env, WDK_DATA_DIR=str(data_dir))
    with workers(data_dir, env, tmp_path, 1, ("--import", "flows.ticking")):
        async def two_done() -> bool:
            page = await rt.world.list_runs(workflow_id="workflow//flows.ticking//tick", status="completed")
            return len(page.items) >= 2

        await until("two ticks run by the worker", two_done)
    [state] = await rt.world.list_schedules()
    assert state.name == "every-second" and state.spec["cron"] == "* * * * * *"
