"""Small builders shared by the World conformance tests (protocol only)."""

from __future__ import annotations

import itertools
import os
import socket
import sqlite3
import time
from pathlib import Path
from typing import Any

from wdk.worlds import NewEvent, NewRun, World
from wdk.worlds.sqlite_schema import MIGRATIONS

_ids = itertools.count()
T0 = 1_700_000_000.0


def owner(name: str = "w") -> str:
    """A lease owner string of this process, as the runtime builds them."""
    return f"{socket.gethostname()}:{os.getpid()}:{name}"


def ev(type_: str, cid: str | None = None, at: float | None = None, **payload: Any) -> NewEvent:
    return NewEvent(type_, time.time() if at is None else at, cid, payload)


async def new_run(
    world: World,
    run_id: str | None = None,
    *,
    workflow_id: str = "workflow//app//flow",
    at: float | None = None,
    key: str | None = None,
    started: bool = False,
) -> str:
    """Create a run (optionally already started) and return its id."""
    run_id = run_id or f"run-{next(_ids)}"
    when = time.time() if at is None else at
    payload = {"workflow_id": workflow_id, "input": {"args": [1, "x"]}}
    await world.create_run(NewRun(run_id, workflow_id, when, payload, idempotency_key=key))
    if started:
        await world.append(run_id, 0, [ev("run_started")])
    return run_id


async def last_seq(world: World, run_id: str) -> int:
    info = await world.get_run(run_id)
    assert info is not None
    return info.last_seq


async def add(world: World, run_id: str, *events: NewEvent) -> int:
    """Append at the run's current seq; returns the new last seq."""
    out = await world.append(run_id, await last_seq(world, run_id), events)
    return out[-1].seq


def store_at_version(data_dir: Path, version: int) -> sqlite3.Connection:
    """The local world's file as a wdk of schema `version` made it (empty, committed),
    open for a test to add rows in that version's shape; commit and close it after."""
    conn = sqlite3.connect(data_dir / "wdk.sqlite3")
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("CREATE TABLE wdk_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
    conn.execute("INSERT INTO wdk_meta VALUES ('schema_version', ?)", (str(version),))
    for statements in MIGRATIONS[:version]:
        for sql in statements:
            conn.execute(sql)
    conn.commit()
    return conn
