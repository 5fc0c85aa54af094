"""Schema version 11 rewrites the events and steps tables in one transaction:
a process SIGKILLed at any moment of it leaves the version 10 store whole, and
the next open migrates it with nothing lost."""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from world_support import store_at_version

from wdk.errors import WorldError
from wdk.worlds import sqlite_schema
from wdk.worlds.local import LocalWorld

RUNS, STEPS = 60, 400
# The child says when the migration's transaction has begun (its first
# statement), then migrates; the test kills it some time after that.
_OPEN = """
import sqlite3, sys
from pathlib import Path

_connect = sqlite3.connect

def traced(*args, **kwargs):
    conn = _connect(*args, **kwargs)
    conn.set_trace_callback(lambda sql: sql.startswith("ALTER TABLE runs RENAME") and print("migrating", flush=True))
    return conn

sqlite3.connect = traced
from wdk.worlds.sqlite_schema import connect
connect(Path(sys.argv[1]), "NORMAL")
"""


def _cid(n: int) -> str:
    return f"step_{n}_9f2c1a7b0d4e6f81"


def _version_10_store(path: Path) -> None:
    with store_at_version(path, 10) as conn:
        for r in range(RUNS):
            run = f"run-{r:03d}"
            conn.execute(
                "INSERT INTO runs (id, workflow_id, status, created_at) VALUES (?, 'wf', 'running', 1.0)", (run,)
            )
            conn.execute("INSERT INTO events VALUES (?, 0, 'run_created', 1.0, NULL, ?)", (run, b"{}"))
            conn.executemany(
                "INSERT INTO events VALUES (?, ?, 'step_created', 1.0, ?, ?)",
                [(run, n, _cid(n), f'{{"step_id": "s", "n": {n}}}'.encode()) for n in range(1, STEPS + 1)],
            )
            conn.executemany(
                "INSERT INTO steps (run_id, correlation_id, seq, step_id, status, attempt, created_at, updated_at) "
                "VALUES (?, ?, ?, 's', 'created', 0, 1.0, 1.0)",
                [(run, _cid(n), n) for n in range(1, STEPS + 1)],
            )
    conn.close()


def _version_and_events(path: Path) -> tuple[int, int]:
    conn = sqlite3.connect(path / "wdk.sqlite3")
    try:
        version = int(conn.execute("SELECT value FROM wdk_meta WHERE key = 'schema_version'").fetchone()[0])
        return version, conn.execute("SELECT count(*) FROM events").fetchone()[0]
    finally:
        conn.close()


def test_a_sigkill_during_the_migration_loses_nothing(tmp_path: Path) -> None:
    _version_10_store(tmp_path)
    total = RUNS * (STEPS + 1)
    # Kill points spread over the migration, from its first statement on,
    # until one process finishes it.
    versions = []
    for delay in (0.0, 0.01, 0.02, 0.05, 0.1, 0.2, 0.4, 1.0):
        with subprocess.Popen(
            [sys.executable, "-c", _OPEN, str(tmp_path)], stdout=subprocess.PIPE, text=True, env=os.environ.copy()
        ) as proc:
            assert proc.stdout is not None and proc.stdout.readline() == "migrating\n"
            time.sleep(delay)  # where to kill it: a point in time, not a wait for an event
            proc.send_signal(signal.SIGKILL)
            proc.wait()
        version, events = _version_and_events(tmp_path)
        assert (version, events) in ((10, total), (11, total))
        versions.append(version)
        if version == 11:
            break
    assert versions[0] == 10  # killed mid-migration: the old store, whole
    world = LocalWorld(tmp_path)

    async def check() -> None:
        await world.open()
        try:
            for r in (0, RUNS // 2, RUNS - 1):
                run = f"run-{r:03d}"
                events = await world.read_events(run)
                assert [e.seq for e in events] == list(range(STEPS + 1))
                assert [e.payload.get("n") for e in events[1:]] == list(range(1, STEPS + 1))
                assert [s.correlation_id for s in await world.list_steps(run)] == [
                    _cid(n) for n in range(1, STEPS + 1)
                ]
        finally:
            await world.close()

    asyncio.run(check())
    assert _version_and_events(tmp_path) == (11, total)


def test_an_open_waits_for_another_process_migrating(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # A migration can outlast the usual busy timeout: an open of an older store
    # waits for the process that holds the write lock (as a migrating one does).
    store_at_version(tmp_path, 10).close()
    monkeypatch.setattr(sqlite_schema, "BUSY_TIMEOUT_MS", 50)
    holder = sqlite3.connect(tmp_path / "wdk.sqlite3", isolation_level=None, check_same_thread=False)
    holder.execute("BEGIN IMMEDIATE")
    done = threading.Timer(0.5, holder.execute, ("COMMIT",))  # the other process's migration ends
    done.start()
    try:
        conn = sqlite_schema.connect(tmp_path, "NORMAL")
        conn.close()
    finally:
        done.join()
        holder.close()
    assert _version_and_events(tmp_path)[0] == sqlite_schema.SCHEMA_VERSION
    # A store already up to date keeps the usual timeout: a held lock is an error at once.
    holder = sqlite3.connect(tmp_path / "wdk.sqlite3", isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        with pytest.raises(WorldError, match="locked"):
            sqlite_schema.connect(tmp_path, "NORMAL")
    finally:
        holder.execute("ROLLBACK")
        holder.close()
