"""The postgres world's flow-control state in SQL: debounced starts and schedules.

`FlowMethods` is the part of PostgresWorld built on these statements. A
debounced start takes a transaction-scoped advisory lock on its key, so two
starts with one key never both create a run.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import asyncpg
import msgspec

from wdk.worlds import pg_log
from wdk.worlds.base import NewRun, RunInfo, ScheduleState
from wdk.worlds.pg_log import RUN_COLS
from wdk.worlds.sql import run_info

T = TypeVar("T")

_encode = msgspec.json.Encoder().encode
_decode = msgspec.json.Decoder().decode
_NOW = "extract(epoch FROM clock_timestamp())::float8"

_SCHEDULE_COLS = "name, spec, version, last_tick, last_run_id, buffered_tick, paused, updated_at"

_OPEN_DEBOUNCE = f"""
SELECT {RUN_COLS} FROM runs WHERE last_seq = 0
  AND id = (SELECT run_id FROM debounces WHERE key = $1 AND fire_at > {_NOW})"""

_ENQUEUE_LATER = f"""
INSERT INTO queue (queue, key, payload, available_at, priority) VALUES ($1, $2, '', {_NOW} + $3, $4)
ON CONFLICT (queue, key) DO NOTHING"""

_REMEMBER = f"""
INSERT INTO debounces (key, run_id, fire_at) VALUES ($1, $2, {_NOW} + $3)
ON CONFLICT (key) DO UPDATE SET run_id = excluded.run_id, fire_at = excluded.fire_at"""


async def debounce_run(
    conn: asyncpg.Connection, run: NewRun, queue: str, key: str, window: float
) -> tuple[RunInfo, bool]:
    """See World.debounce_run."""
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock(hashtextextended('wdk debounce ' || $1, 0))", key)
        row = await conn.fetchrow(_OPEN_DEBOUNCE, key)
        if row is not None:
            await conn.execute(
                "UPDATE events SET payload = $1 WHERE run_id = $2 AND seq = 0", _encode(run.payload), row[0]
            )
            return run_info(row), False
        info, created = await pg_log.create_run(conn, run)
        if not created:
            return info, False
        # No NOTIFY: nothing is due before the window closes.
        await conn.execute(_ENQUEUE_LATER, queue, run.run_id, window, run.priority)
        await conn.execute(_REMEMBER, key, run.run_id, window)
        await conn.execute(f"DELETE FROM debounces WHERE fire_at < {_NOW} - 3600")
        return info, True


def _state(row: Any) -> ScheduleState:
    return ScheduleState(
        name=row[0], spec=_decode(row[1]), version=row[2], last_tick=row[3], last_run_id=row[4],
        buffered_tick=row[5], paused=row[6], updated_at=row[7],
    )


_INSERT_SCHEDULE = f"""
INSERT INTO schedules (spec, last_tick, last_run_id, buffered_tick, paused, name, version, updated_at)
VALUES ($1, $2, $3, $4, $5, $6, 1, {_NOW}) ON CONFLICT (name) DO NOTHING"""

_UPDATE_SCHEDULE = f"""
UPDATE schedules SET spec = $1, last_tick = $2, last_run_id = $3, buffered_tick = $4, paused = $5,
  version = version + 1, updated_at = {_NOW}
WHERE name = $6 AND version = $7"""


class FlowMethods:
    """PostgresWorld's debounce and schedule methods (see World)."""

    async def _call(self, op: Callable[[asyncpg.Connection], Awaitable[T]], *, read: bool = False) -> T:
        raise NotImplementedError

    async def debounce_run(self, run: NewRun, queue: str, key: str, window: float) -> tuple[RunInfo, bool]:
        """A debounced start (see World.debounce_run)."""
        return await self._call(lambda c: debounce_run(c, run, queue, key, window))

    async def get_schedule(self, name: str) -> ScheduleState | None:
        sql = f"SELECT {_SCHEDULE_COLS} FROM schedules WHERE name = $1"
        row = await self._call(lambda c: c.fetchrow(sql, name), read=True)
        return None if row is None else _state(row)

    async def list_schedules(self) -> list[ScheduleState]:
        """Every stored schedule, by name."""
        sql = f"SELECT {_SCHEDULE_COLS} FROM schedules ORDER BY name"
        rows = await self._call(lambda c: c.fetch(sql), read=True)
        return [_state(r) for r in rows]

    async def save_schedule(self, state: ScheduleState) -> bool:
        """Compare-and-set on `state.version` (see World.save_schedule)."""
        values = (_encode(state.spec), state.last_tick, state.last_run_id, state.buffered_tick, state.paused)
        if state.version == 0:
            done = await self._call(lambda c: c.execute(_INSERT_SCHEDULE, *values, state.name))
        else:
            done = await self._call(lambda c: c.execute(_UPDATE_SCHEDULE, *values, state.name, state.version))
        return not str(done).endswith(" 0")
