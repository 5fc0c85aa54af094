"""The local world's flow-control state in SQL: debounced starts and schedules.

Functions of a connection, called inside the group commit (see `sqlite_commit.py`);
`FlowMethods` is the part of LocalWorld built on them.
"""

from __future__ import annotations

import functools
import sqlite3
import time
from collections.abc import Callable
from typing import Any

import msgspec

from wdk.worlds import sqlite_log, sqlite_queue
from wdk.worlds.base import NewRun, RunInfo, ScheduleState
from wdk.worlds.sql import run_info
from wdk.worlds.sqlite_commit import Write
from wdk.worlds.sqlite_keys import RUN_NUM, SEQ_BITS, SEQ_MASK, run_keys
from wdk.worlds.sqlite_log import RUN_COLS

_encode = msgspec.json.Encoder().encode
_decode = msgspec.json.Decoder().decode

_SCHEDULE_COLS = "name, spec, version, last_tick, last_run_id, buffered_tick, paused, updated_at"


def debounce_run(
    conn: sqlite3.Connection, run: NewRun, queue: str, key: str, window: float
) -> tuple[RunInfo, bool]:
    """See World.debounce_run."""
    now = time.time()
    # A run that has begun (last_seq > 0) keeps its arguments: a new one starts.
    row = conn.execute(
        f"SELECT {RUN_COLS} FROM runs WHERE id = (SELECT run_id FROM debounces WHERE key = ? "
        f"AND fire_at > ?) AND NOT EXISTS (SELECT 1 FROM events WHERE {run_keys('runs.num')} AND k & {SEQ_MASK} > 0)",
        (key, now),
    ).fetchone()
    if row is not None:
        info = run_info(row)
        conn.execute(
            f"UPDATE events SET payload = ?2 WHERE k = ({RUN_NUM}) << {SEQ_BITS}",
            (info.id, _encode(run.payload)),
        )
        return info, False
    info, created = sqlite_log.create_run(conn, run)
    if not created:
        return info, False
    sqlite_queue.enqueue(conn, queue, run.run_id, b"", now + window, priority=run.priority)
    conn.execute(
        "INSERT INTO debounces (key, run_id, fire_at) VALUES (?, ?, ?) ON CONFLICT (key) "
        "DO UPDATE SET run_id = excluded.run_id, fire_at = excluded.fire_at",
        (key, run.run_id, now + window),
    )
    # Windows that closed are done with: keep the table small.
    conn.execute("DELETE FROM debounces WHERE fire_at < ?", (now - 3600.0,))
    return info, True


def schedule_state(row: Any) -> ScheduleState:
    return ScheduleState(
        name=row[0], spec=_decode(row[1]), version=row[2], last_tick=row[3], last_run_id=row[4],
        buffered_tick=row[5], paused=bool(row[6]), updated_at=row[7],
    )


def get_schedule(conn: sqlite3.Connection, name: str) -> ScheduleState | None:
    row = conn.execute(f"SELECT {_SCHEDULE_COLS} FROM schedules WHERE name = ?", (name,)).fetchone()
    return None if row is None else schedule_state(row)


def list_schedules(conn: sqlite3.Connection) -> list[ScheduleState]:
    rows = conn.execute(f"SELECT {_SCHEDULE_COLS} FROM schedules ORDER BY name").fetchall()
    return [schedule_state(r) for r in rows]


def save_schedule(conn: sqlite3.Connection, s: ScheduleState) -> bool:
    """Compare-and-set on the version (see World.save_schedule)."""
    values = (_encode(s.spec), s.last_tick, s.last_run_id, s.buffered_tick, int(s.paused), time.time())
    if s.version == 0:
        cur = conn.execute(
            "INSERT INTO schedules (spec, last_tick, last_run_id, buffered_tick, paused, updated_at, "
            "name, version) VALUES (?, ?, ?, ?, ?, ?, ?, 1) ON CONFLICT (name) DO NOTHING",
            (*values, s.name),
        )
    else:
        cur = conn.execute(
            "UPDATE schedules SET spec = ?, last_tick = ?, last_run_id = ?, buffered_tick = ?, "
            "paused = ?, updated_at = ?, version = version + 1 WHERE name = ? AND version = ?",
            (*values, s.name, s.version),
        )
    return cur.rowcount > 0


class FlowMethods:
    """LocalWorld's debounce and schedule methods (see World)."""

    # The world's group commit's `write` and `sync` (see sqlite_commit).
    _write: Write
    _sync: Callable[[], sqlite3.Connection]

    def _wake_queue(self, queue: str) -> None:
        raise NotImplementedError

    @property
    def _db(self) -> sqlite3.Connection:
        raise NotImplementedError

    async def debounce_run(self, run: NewRun, queue: str, key: str, window: float) -> tuple[RunInfo, bool]:
        """A debounced start (see World.debounce_run)."""
        result: tuple[RunInfo, bool] = await self._write(
            functools.partial(debounce_run, self._db, run, queue, key, window)
        )
        return result

    async def get_schedule(self, name: str) -> ScheduleState | None:
        return get_schedule(self._sync(), name)

    async def list_schedules(self) -> list[ScheduleState]:
        """Every stored schedule, by name."""
        return list_schedules(self._sync())

    async def save_schedule(self, state: ScheduleState) -> bool:
        """Compare-and-set on `state.version` (see World.save_schedule)."""
        done: bool = await self._write(functools.partial(save_schedule, self._db, state))
        return done
