"""Cron schedules: `wdk.schedule(workflow, cron=..., tz=..., overlap=..., catchup=...)`.

    nightly = wdk.schedule(report, cron="0 9 * * MON", tz="Europe/Paris")

A module-level declaration: every process that imports the module and runs
a consuming runtime (`wdk worker`, `wdk serve`, `wdk dev`, an embedded
runtime; WDK_SCHEDULES=0 turns it off) runs a `Scheduler` for it. However
many do, each tick starts exactly one run: the run's idempotency key is
`schedule:<name>:<tick>`, and the schedule's state (how far it fired, the
run of the latest tick, paused) is written with a compare-and-set
(`World.save_schedule`): a scheduler that loses the race reads again.

Time zones: ticks are computed on the zone's wall clock and each is placed
on the timeline with zoneinfo, so a tick in the hour a DST change repeats
fires once (the first time), and one in the hour it skips fires once (an hour
"late", at the same instant as the hour after the gap).

Overlap (a tick comes while the run of the previous one is still going):
"skip" (default) drops it, "allow" starts it anyway, "buffer_one" keeps the
latest such tick and starts it when the running one ends.

Catch-up (several ticks are due at once: no scheduler ran for a while):
None / False / 0 starts only the latest; an int n also the n before it;
True starts all of them; a duration ("1h") those no older than that.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal
from zoneinfo import ZoneInfo

from wdk.durations import Duration, parse_duration
from wdk.errors import WorldError
from wdk.worlds.base import TERMINAL_STATUSES, ScheduleState, World

__all__ = [
    "Schedule", "Scheduler", "declared_schedules", "describe", "describe_all", "next_fire", "schedule",
    "set_paused", "ticks_between",
]

log = logging.getLogger("wdk")

Overlap = Literal["skip", "allow", "buffer_one"]
Catchup = bool | int | Duration | None
OVERLAPS = ("skip", "allow", "buffer_one")
MAX_SLEEP = 5.0  # a scheduler re-reads its schedules at least this often (pauses, ended runs)
MAX_TICKS = 10_000  # ticks looked at in one pass: a schedule down for years does not hang


@dataclass(frozen=True)
class Schedule:
    """A declared schedule (what `wdk.schedule` returns)."""

    name: str
    workflow_id: str
    cron: str
    tz: str = "UTC"
    overlap: Overlap = "skip"
    catchup: Catchup = None

    def spec(self) -> dict[str, Any]:
        """As stored with its state (so `wdk schedules` lists it without importing it)."""
        return {
            "workflow_id": self.workflow_id, "cron": self.cron, "tz": self.tz,
            "overlap": self.overlap, "catchup": self.catchup,
        }

    @classmethod
    def from_spec(cls, name: str, spec: dict[str, Any]) -> Schedule:
        return cls(name, spec["workflow_id"], spec["cron"], spec.get("tz", "UTC"),
                   spec.get("overlap", "skip"), spec.get("catchup"))


_declared: dict[str, Schedule] = {}


def _croniter() -> Any:
    try:
        from croniter import croniter  # type: ignore[import-untyped]
    except ImportError:  # pragma: no cover - depends on the environment
        raise ImportError("wdk.schedule needs croniter: pip install 'wdk[schedules]'") from None
    return croniter


def schedule(
    workflow: Callable[..., Any] | str,
    *,
    cron: str,
    tz: str = "UTC",
    overlap: Overlap = "skip",
    catchup: Catchup = None,
    name: str | None = None,
) -> Schedule:
    """Run `workflow` (no arguments) on a cron schedule, from every worker,
    `serve` and `dev` process that imports this module: one run per tick.

        wdk.schedule(weekly_report, cron="0 9 * * MON", tz="Europe/Paris")

    `cron`: 5 fields, or 6 with seconds last ("*/10 * * * * 30"); `name`
    (default: the workflow's id) names it in `wdk schedules`.
    """
    from wdk.runtime.loader import default_loader

    workflow_id = workflow if isinstance(workflow, str) else (
        getattr(workflow, "__wdk_workflow_id__", None) or default_loader().workflow_id_of(workflow)
    )
    if overlap not in OVERLAPS:
        raise ValueError(f"schedule(overlap=...) must be one of {', '.join(OVERLAPS)}, not {overlap!r}")
    if not _croniter().is_valid(cron):
        raise ValueError(f"schedule(cron=...): not a cron expression: {cron!r}")
    if len(cron.split()) not in (5, 6):
        raise ValueError(f"schedule(cron=...) takes 5 fields, or 6 with seconds last: {cron!r}")
    ZoneInfo(tz)  # an unknown zone raises here, when the module loads
    if isinstance(catchup, str):
        parse_duration(catchup)
    declared = Schedule(name or workflow_id, workflow_id, cron, tz, overlap, catchup)
    _declared[declared.name] = declared  # a module loaded again (hot reload) replaces its schedules
    return declared


def declared_schedules() -> list[Schedule]:
    """The schedules the modules imported so far declared."""
    return list(_declared.values())


def ticks_between(s: Schedule, after: float, until: float) -> list[float]:
    """Unix times of the ticks in (after, until], in order (at most MAX_TICKS)."""
    zone = ZoneInfo(s.tz)
    # Walk the zone's wall clock (naive), from an hour before `after`: a wall
    # time repeated by a DST change is then seen once, and placed at its first instant.
    start = datetime.fromtimestamp(after, zone).replace(tzinfo=None, fold=0)
    it = _croniter()(s.cron, start.replace(microsecond=0) - _HOUR)
    end = datetime.fromtimestamp(until, zone).replace(tzinfo=None) + _HOUR
    ticks: list[float] = []
    seen: set[float] = set()
    for _ in range(MAX_TICKS * 2):
        wall: datetime = it.get_next(datetime)
        if wall > end:
            break
        at = wall.replace(tzinfo=zone, fold=0).timestamp()
        if after < at <= until and at not in seen:
            seen.add(at)
            ticks.append(at)
    return sorted(ticks)[:MAX_TICKS]


def next_fire(s: Schedule, now: float) -> float | None:
    """The first tick after `now` (within a year), or None."""
    step = 86400.0
    for i in range(366):
        ticks = ticks_between(s, now + i * step, now + (i + 1) * step)
        if ticks:
            return ticks[0]
    return None


_HOUR = datetime(2000, 1, 1, 1) - datetime(2000, 1, 1)


def _catch_up(s: Schedule, due: list[float], now: float) -> list[float]:
    """Which of the due ticks start runs (the latest always does)."""
    c = s.catchup
    if c is True:
        return due
    if c is None or c is False or c == 0:
        return due[-1:]
    if isinstance(c, int):
        return due[-(c + 1):]
    window = parse_duration(c)
    return [t for t in due if t >= now - window] or due[-1:]


StartFn = Callable[[str, str], Awaitable[str]]  # (workflow id, idempotency key) -> run id


class Scheduler:
    """Fires the given schedules (default: every declared one) through `start`.

    `clock` (Unix seconds) is injectable: tests drive ticks with it."""

    def __init__(
        self,
        world: World,
        start: StartFn,
        *,
        clock: Callable[[], float] = time.time,
        schedules: Sequence[Schedule] | None = None,
    ) -> None:
        self.world = world
        self.start = start
        self.clock = clock
        self._fixed = None if schedules is None else list(schedules)

    def schedules(self) -> list[Schedule]:
        return self._fixed if self._fixed is not None else declared_schedules()

    async def tick(self) -> list[str]:
        """One pass: start the runs that are due now; their ids."""
        started: list[str] = []
        for s in self.schedules():
            started += await self._fire(s)
        return started

    async def run_forever(self) -> None:
        while True:
            try:
                await self.tick()
            except WorldError as exc:
                log.error("wdk: scheduler: %s", exc)
            except Exception:
                log.exception("wdk: scheduler pass failed")
            now = self.clock()
            nexts = [n for n in (next_fire(s, now) for s in self.schedules()) if n is not None]
            pause = min([MAX_SLEEP, *(n - now for n in nexts)])
            await asyncio.sleep(max(pause, 0.01))

    async def _fire(self, s: Schedule) -> list[str]:
        for _ in range(20):  # compare-and-set: lost races are read again
            now = self.clock()
            state = await self.world.get_schedule(s.name)
            if state is None:
                # First sight: nothing before now is owed.
                await self.world.save_schedule(ScheduleState(s.name, s.spec(), last_tick=now))
                continue
            if state.paused:
                return []
            started, new = await self._plan(s, state, now)
            if new == state:
                return started
            if await self.world.save_schedule(new):
                return started
        log.warning("wdk: schedule %s: too many concurrent writers; next pass", s.name)
        return []

    async def _plan(self, s: Schedule, state: ScheduleState, now: float) -> tuple[list[str], ScheduleState]:
        """The runs to start now and the state after them."""
        last_tick = state.last_tick if state.last_tick is not None else now
        due = ticks_between(s, last_tick, now)
        last_run, buffered = state.last_run_id, state.buffered_tick
        running = await self._running(last_run)
        started: list[str] = []
        if buffered is not None and not running:
            last_run = await self.start(s.workflow_id, _key(s, buffered))
            started.append(last_run)
            buffered, running = None, True
        for tick in _catch_up(s, due, now):
            if running and s.overlap == "skip":
                continue
            if running and s.overlap == "buffer_one":
                buffered = tick
                continue
            last_run = await self.start(s.workflow_id, _key(s, tick))
            started.append(last_run)
            running = True
        new = ScheduleState(
            s.name, s.spec(), state.version, due[-1] if due else state.last_tick, last_run, buffered,
            state.paused, state.updated_at,
        )
        return started, new

    async def _running(self, run_id: str | None) -> bool:
        if run_id is None:
            return False
        run = await self.world.get_run(run_id)
        return run is not None and run.status not in TERMINAL_STATUSES


def _key(s: Schedule, tick: float) -> str:
    stamp = datetime.fromtimestamp(tick, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return f"schedule:{s.name}:{stamp}"


async def set_paused(world: World, name: str, paused: bool) -> ScheduleState:
    """Pause or resume a stored schedule (KeyError: no such schedule). A resumed
    schedule owes nothing for the ticks while it was paused."""
    for _ in range(20):
        state = await world.get_schedule(name)
        if state is None:
            raise KeyError(name)
        last_tick = time.time() if (state.paused and not paused) else state.last_tick
        new = ScheduleState(state.name, state.spec, state.version, last_tick, state.last_run_id,
                            state.buffered_tick, paused, state.updated_at)
        if await world.save_schedule(new):
            return new
    raise WorldError(f"schedule {name}: too many concurrent writers")


def describe(state: ScheduleState, now: float | None = None) -> dict[str, Any]:
    """A stored schedule as `wdk schedules` and GET /api/schedules show it:
    its declaration, whether it is paused, and when it fires next."""
    now = time.time() if now is None else now
    s = Schedule.from_spec(state.name, state.spec)
    nxt = None if state.paused else next_fire(s, max(now, state.last_tick or now))
    return {
        **s.spec(), "name": s.name, "paused": state.paused, "next_fire": nxt,
        "last_tick": state.last_tick, "last_run_id": state.last_run_id, "buffered_tick": state.buffered_tick,
    }


async def describe_all(world: World, now: float | None = None) -> list[dict[str, Any]]:
    """Every schedule a scheduler has run against this world, by name."""
    return [describe(state, now) for state in await world.list_schedules()]
