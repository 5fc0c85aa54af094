"""The local (SQLite) world's own promises: file, pragmas, bad stores, processes."""

from __future__ import annotations

import asyncio
import importlib.util
import multiprocessing
import os
import socket
import sqlite3
import sys
from pathlib import Path
from typing import Any

import local_worker
import pytest
from world_support import T0, ev, new_run, owner, store_at_version

from wdk.errors import ConflictError, DuplicateCompletion, WorldError
from wdk.worlds import COMPLETION_TYPES, World, create_world, sqlite_commit, sqlite_keys, sqlite_log
from wdk.worlds.base import NewRun
from wdk.worlds.local import LocalWorld
from wdk.worlds.sqlite_keys import RUN_NUM, SEQ_MASK, call_number, run_keys, step_key
from wdk.worlds.sqlite_schema import _COMPLETIONS_SQL, SCHEMA_VERSION

LAST_SEQ = f"SELECT max(k) & {SEQ_MASK} FROM events WHERE {run_keys(RUN_NUM)}"


async def opened(path: Path, **options: str) -> LocalWorld:
    world = LocalWorld(path, **options)
    await world.open()
    return world


async def test_file_location_wal_and_synchronous(tmp_path: Path) -> None:
    world = await opened(tmp_path / "d")
    assert world.path == tmp_path / "d" / "wdk.sqlite3" and world.path.exists()
    await world.close()
    with sqlite3.connect(world.path) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute(
            "SELECT value FROM wdk_meta WHERE key = 'schema_version'"
        ).fetchone() == (str(SCHEMA_VERSION),)
    for mode, level in (("NORMAL", 1), ("FULL", 2), ("full", 2)):
        world = await opened(tmp_path / "d", synchronous=mode)
        assert world._db.execute("PRAGMA synchronous").fetchone()[0] == level
        assert world._db.execute("PRAGMA busy_timeout").fetchone()[0] >= 1000
        await world.close()


def test_settings_from_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("WDK_DATA_DIR", raising=False)
    monkeypatch.delenv("WDK_SQLITE_SYNCHRONOUS", raising=False)
    default = LocalWorld()
    assert (default.data_dir, default.synchronous) == (tmp_path / ".wdk", "NORMAL")
    monkeypatch.setenv("WDK_DATA_DIR", str(tmp_path / "env-dir"))
    monkeypatch.setenv("WDK_SQLITE_SYNCHRONOUS", "FULL")
    from_env = LocalWorld()
    assert (from_env.data_dir, from_env.synchronous) == (tmp_path / "env-dir", "FULL")
    monkeypatch.setenv("WDK_SQLITE_SYNCHRONOUS", "OFF")
    with pytest.raises(ValueError, match="NORMAL or FULL"):
        LocalWorld()
    with pytest.raises(ValueError, match="NORMAL or FULL"):
        LocalWorld(tmp_path, synchronous="EXTRA")


def test_create_world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("WDK_WORLD", raising=False)
    world = create_world(data_dir=tmp_path)
    assert isinstance(world, LocalWorld) and world.data_dir == tmp_path
    monkeypatch.setenv("WDK_WORLD", "local")
    assert create_world(data_dir=tmp_path).name == "local"
    with pytest.raises(WorldError, match="local") as info:
        create_world("cassandra")
    assert "cassandra" in str(info.value) and "postgres" in str(info.value)
    assert isinstance(world, World)  # the runtime-checkable protocol
    if importlib.util.find_spec("wdk.worlds.postgres") is None:
        with pytest.raises(WorldError, match="postgres"):
            create_world("postgres")


async def test_data_survives_reopening(tmp_path: Path) -> None:
    world = await opened(tmp_path)
    run = await new_run(world, started=True)
    await world.enqueue("q", "k", b"p")
    await world.close()
    again = await opened(tmp_path)
    assert [e.type for e in await again.read_events(run)] == ["run_created", "run_started"]
    assert [x.payload for x in await again.lease("q", owner())] == [b"p"]
    await again.close()


async def test_a_closed_world_says_so(tmp_path: Path) -> None:
    world = await opened(tmp_path)
    await world.close()
    with pytest.raises(WorldError, match="not open"):
        await world.get_run("x")


def _snapshot(directory: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(directory.iterdir())}


@pytest.mark.parametrize(
    "content",
    [os.urandom(4096), b"SQLite format 3\x00" + os.urandom(8000)],
    ids=["random-bytes", "sqlite-header-then-garbage"],
)
async def test_corrupt_file_is_refused_untouched(tmp_path: Path, content: bytes) -> None:
    (tmp_path / "wdk.sqlite3").write_bytes(content)
    before = _snapshot(tmp_path)
    with pytest.raises(WorldError) as info:
        await opened(tmp_path)
    assert str(tmp_path / "wdk.sqlite3") in str(info.value)
    assert _snapshot(tmp_path) == before


async def test_foreign_sqlite_file_is_refused_untouched(tmp_path: Path) -> None:
    with sqlite3.connect(tmp_path / "wdk.sqlite3") as conn:
        conn.execute("CREATE TABLE invoices (id INTEGER PRIMARY KEY, total REAL)")
        conn.execute("INSERT INTO invoices VALUES (1, 9.5)")
    conn.close()
    before = _snapshot(tmp_path)
    with pytest.raises(WorldError, match="is not a wdk store"):
        await opened(tmp_path)
    assert _snapshot(tmp_path) == before


async def test_newer_schema_is_refused_untouched(tmp_path: Path) -> None:
    world = await opened(tmp_path)
    run = await new_run(world)
    await world.close()
    with sqlite3.connect(tmp_path / "wdk.sqlite3") as conn:
        conn.execute("UPDATE wdk_meta SET value = '999' WHERE key = 'schema_version'")
    conn.close()
    before = _snapshot(tmp_path)
    with pytest.raises(WorldError) as info:
        await opened(tmp_path)
    assert "999" in str(info.value) and str(SCHEMA_VERSION) in str(info.value)
    assert _snapshot(tmp_path) == before
    with sqlite3.connect(tmp_path / "wdk.sqlite3") as conn:
        assert conn.execute(f"SELECT count(*) FROM events WHERE {run_keys(RUN_NUM)}", (run,)).fetchone() == (
            1,
        )
    conn.close()


async def test_data_dir_that_cannot_be_created(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a dir")
    with pytest.raises(WorldError, match="data dir") as info:
        await opened(blocker / "data")
    assert str(blocker / "data") in str(info.value)
    assert blocker.read_text() == "not a dir"


@pytest.mark.skipif(not Path("/proc/self").is_dir(), reason="needs /proc")
async def test_data_dir_that_cannot_be_written() -> None:
    # /proc/self exists and refuses new files even for root (chmod would not).
    with pytest.raises(WorldError, match="not writable") as info:
        await opened(Path("/proc/self"))
    assert "/proc/self" in str(info.value)


@pytest.mark.skipif(os.geteuid() == 0, reason="root ignores directory permissions")
async def test_read_only_data_dir(tmp_path: Path) -> None:
    tmp_path.chmod(0o500)
    try:
        with pytest.raises(WorldError, match="not writable"):
            await opened(tmp_path)
    finally:
        tmp_path.chmod(0o700)


async def test_a_version_1_store_is_upgraded_in_place(tmp_path: Path) -> None:
    # Version 1 kept last_seq and updated_at in the run row; version 2 reads
    # them from the run's last event.
    with store_at_version(tmp_path, 1) as conn:
        conn.execute(
            "INSERT INTO runs (id, workflow_id, status, created_at, updated_at, last_seq, "
            "started_at, idempotency_key) VALUES ('old', 'wf', 'running', ?, ?, 1, ?, 'k')",
            (T0, T0 + 1, T0 + 1),
        )
        conn.executemany(
            "INSERT INTO events (run_id, seq, type, at, payload) VALUES ('old', ?, ?, ?, '{}')",
            [(0, "run_created", T0), (1, "run_started", T0 + 1)],
        )
    conn.close()
    world = await opened(tmp_path)
    info = await world.get_run("old")
    assert info is not None
    assert (info.status, info.last_seq, info.updated_at, info.started_at) == (
        "running",
        1,
        T0 + 1,
        T0 + 1,
    )
    await world.append("old", 1, [ev("wait_created", "w", T0 + 2, resume_at=T0 + 9)])
    info = await world.get_run("old")
    assert info is not None and (info.last_seq, info.updated_at) == (2, T0 + 2)
    assert [r.id for r in (await world.list_runs(status="running")).items] == ["old"]
    assert world._db.execute("SELECT id FROM runs WHERE idempotency_key = 'k'").fetchone() == (
        "old",
    )
    columns = {r[1] for r in world._db.execute("PRAGMA table_info(runs)")}
    assert "last_seq" not in columns and "updated_at" not in columns
    await world.close()


async def test_a_version_10_store_moves_to_integer_keys(tmp_path: Path) -> None:
    # Version 10 keyed events and steps by the run id's text; 11 by the run's
    # number. Two runs, inserted out of id order, each with a live step.
    with store_at_version(tmp_path, 10) as conn:
        for run in ("zeta", "alpha"):
            conn.execute(
                "INSERT INTO runs (id, workflow_id, status, created_at, started_at) VALUES (?, 'wf', 'running', ?, ?)",
                (run, T0, T0 + 1),
            )
            conn.executemany(
                "INSERT INTO events (run_id, seq, type, at, correlation_id, payload) VALUES (?, ?, ?, ?, ?, ?)",
                [
                    (run, 0, "run_created", T0, None, b"{}"),
                    (run, 1, "run_started", T0 + 1, None, b"{}"),
                    (run, 2, "step_created", T0 + 2, "c1", b'{"step_id": "s"}'),
                    (run, 3, "step_started", T0 + 2, "c1", b'{"attempt": 1}'),
                ],
            )
            conn.execute(
                "INSERT INTO steps (run_id, correlation_id, seq, step_id, status, attempt, created_at, "
                "updated_at, started_at) VALUES (?, 'c1', 2, 's', 'running', 1, ?, ?, ?)",
                (run, T0 + 2, T0 + 2, T0 + 2),
            )
            conn.execute("INSERT INTO streams (run_id, namespace, next_index) VALUES (?, 'out', 0)", (run,))
        # Two ids with one call number: one row takes its key, the other goes by seq.
        conn.executemany(
            "INSERT INTO steps (run_id, correlation_id, seq, step_id, status, attempt, created_at, updated_at) "
            "VALUES ('zeta', ?, ?, 's', 'created', 0, ?, ?)",
            [("step_1_a", 10, T0, T0), ("step_1_b", 11, T0, T0)],
        )
    conn.close()
    world = await opened(tmp_path)
    for run in ("zeta", "alpha"):
        assert [(e.seq, e.type, e.correlation_id) for e in await world.read_events(run)] == [
            (0, "run_created", None), (1, "run_started", None), (2, "step_created", "c1"), (3, "step_started", "c1"),
        ]
        assert [(e.seq, e.payload) for e in await world.read_events(run, after_seq=2)] == [(3, {"attempt": 1})]
        info = await world.get_run(run)
        assert info is not None and (info.status, info.last_seq, info.updated_at) == ("running", 3, T0 + 2)
        steps = [(s.correlation_id, s.status) for s in await world.list_steps(run)]
        assert steps == [("c1", "running")] + ([("step_1_a", "created"), ("step_1_b", "created")] if run == "zeta" else [])
    # The migrated step row takes its completion once; the run ends and closes its stream.
    await world.append("alpha", 3, [ev("step_completed", "c1", result=1)])
    with pytest.raises(DuplicateCompletion):
        await world.append("alpha", 4, [ev("step_completed", "c1", result=2)])
    await world.append("alpha", 4, [ev("run_completed", result=1)])
    assert [s.status for s in await world.list_steps("alpha")] == ["completed"]
    await world.append("zeta", 3, [ev("step_completed", "step_1_b", result=1), ev("step_failed", "step_1_a", error={})])
    with pytest.raises(DuplicateCompletion):
        await world.append("zeta", 5, [ev("step_completed", "step_1_a", result=2)])
    assert [s.status for s in await world.list_steps("zeta")] == ["running", "failed", "completed"]
    rows = dict(world._db.execute("SELECT run_id, closed FROM streams").fetchall())
    assert rows == {"alpha": 1, "zeta": 0}
    # Numbers kept their order, and a new run takes the next one.
    fresh = await new_run(world)
    nums = dict(world._db.execute("SELECT id, num FROM runs").fetchall())
    assert nums["zeta"] < nums["alpha"] < nums[fresh]
    assert [e.seq for e in await world.read_events(fresh)] == [0]
    await world.close()


async def test_any_correlation_id_gets_one_step_row_and_one_completion(tmp_path: Path) -> None:
    # Rows sit at their call number's key, or by seq when the id has none or
    # another id holds its key (sqlite_keys); the guarantees are the same.
    world = await opened(tmp_path)
    try:
        run = await new_run(world, started=True)
        ids = ["step_1_x", "step_1_y", "c9", "step_007_z", "wait_2", "step_2_x", "_3_", "step_99999999999_q"]
        seq = 1
        for cid in ids:
            await world.append(run, seq, [ev("step_created", cid, step_id="s", input={})])
            seq += 1
        keys = dict(world._db.execute("SELECT correlation_id, k & 4294967295 FROM steps").fetchall())
        by_seq = 1 << 31
        assert keys == {
            "step_1_x": 1, "step_1_y": by_seq | 3, "c9": by_seq | 4, "step_007_z": 7, "wait_2": by_seq | 6,
            "step_2_x": 2, "_3_": 3, "step_99999999999_q": by_seq | 9,
        }
        assert [s.correlation_id for s in await world.list_steps(run)] == ids
        for cid in ids:
            with pytest.raises(ConflictError, match="already exists"):
                await world.append(run, seq, [ev("step_created", cid, step_id="s", input={})])
            await world.append(run, seq, [ev("step_started", cid, attempt=1), ev("step_completed", cid, result=cid)])
            seq += 2
            with pytest.raises(DuplicateCompletion):
                await world.append(run, seq, [ev("step_completed", cid, result=0)])
            with pytest.raises(ConflictError, match="has ended"):
                await world.append(run, seq, [ev("step_started", cid, attempt=2)])
        with pytest.raises(ConflictError, match="unknown step"):
            await world.append(run, seq, [ev("step_completed", "step_5_x", result=0)])
        assert {s.correlation_id: (s.status, s.attempt) for s in await world.list_steps(run)} == {
            cid: ("completed", 1) for cid in ids
        }
    finally:
        await world.close()


def test_completion_index_matches_the_protocol() -> None:
    assert set(_COMPLETIONS_SQL.strip("()").replace("'", "").split(", ")) == COMPLETION_TYPES


async def test_a_read_sees_an_append_not_yet_awaited(tmp_path: Path) -> None:
    world = await opened(tmp_path)
    run = await new_run(world, started=True)
    task = asyncio.create_task(world.append(run, 1, [ev("wait_created", "w", resume_at=T0)]))
    await asyncio.sleep(0)  # the append is requested, its group commit not yet run
    assert [e.type for e in await world.read_events(run, after_seq=1)] == ["wait_created"]
    assert (await task)[0].seq == 2
    await world.close()


async def test_a_dead_owners_lease_is_taken_over_at_once(tmp_path: Path) -> None:
    world = await opened(tmp_path)
    await world.enqueue("jobs", "k", b"work")
    child = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        f"import local_worker; local_worker.lease_then_die({str(tmp_path)!r})",
        cwd=Path(local_worker.__file__).parent,
    )
    assert await child.wait() == -9
    [lease] = await world.lease("jobs", owner("heir"), lease_for=30)
    assert (lease.key, lease.attempts) == ("k", 2)
    await world.close()


async def test_live_and_foreign_owners_keep_their_leases(tmp_path: Path) -> None:
    world = await opened(tmp_path)
    host = socket.gethostname()
    ours_unknown = f"{host}:{os.getpid()}:from-a-dead-predecessor"
    holders = {
        "live-parent": f"{host}:{os.getppid()}:w",
        "other-host": f"elsewhere.example:{os.getppid() + 999_999}:w",
    }
    for key in holders:
        await world.enqueue("jobs", key)
    for key, holder in holders.items():
        got = await world.lease("jobs", holder, limit=1, lease_for=300)
        assert [x.key for x in got] == [key]
    assert await world.lease("jobs", owner("thief")) == []
    # Our pid but an owner this process never used: a predecessor with our pid.
    await world._write(
        lambda: world._db.execute(
            "UPDATE queue SET owner = ? WHERE key = 'live-parent'", (ours_unknown,)
        )
    )
    assert [x.key for x in await world.lease("jobs", owner("thief"))] == ["live-parent"]
    await world.close()


def test_two_processes_share_one_queue_without_double_leases(tmp_path: Path) -> None:
    keys = [f"m{i:03}" for i in range(300)]

    async def fill() -> None:
        world = await opened(tmp_path)
        for key in keys:
            await world.enqueue("jobs", key, key.encode())
        await world.close()

    asyncio.run(fill())
    ctx = multiprocessing.get_context("spawn")
    start, results = ctx.Event(), ctx.Queue()
    procs = [
        ctx.Process(target=local_worker.drain, args=(str(tmp_path), f"p{n}", start, results))
        for n in range(2)
    ]
    for proc in procs:
        proc.start()
    start.set()
    reports = dict(results.get(timeout=40) for _ in procs)
    for proc in procs:
        proc.join(10)
        assert proc.exitcode == 0
    processed = reports["p0"] + reports["p1"]
    assert sorted(processed) == keys  # each message exactly once
    assert reports["p0"] and reports["p1"]  # and both processes really took part


async def test_a_version_2_store_ends_the_waits_of_finished_runs(tmp_path: Path) -> None:
    # Before version 3 a finished run's waits stayed "waiting" for ever.
    with store_at_version(tmp_path, 2) as conn:
        conn.executemany(
            "INSERT INTO runs (id, workflow_id, status, created_at) VALUES (?, 'wf', ?, ?)",
            [("done", "cancelled", T0), ("live", "running", T0)],
        )
        conn.executemany(
            "INSERT INTO waits (run_id, correlation_id, seq, resume_at, status, created_at) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            [
                ("done", "w1", 2, T0 + 9, "waiting", T0),
                ("done", "w2", 3, T0 + 9, "completed", T0),
                ("live", "w1", 2, T0 + 9, "waiting", T0),
            ],
        )
    conn.close()
    world = await opened(tmp_path)
    assert [w.status for w in await world.list_waits("done")] == ["cancelled", "completed"]
    assert [w.status for w in await world.list_waits("live")] == ["waiting"]
    await world.close()


async def test_a_version_4_store_drops_the_completion_index_and_still_refuses_a_second_completion(
    tmp_path: Path,
) -> None:
    # Version 5 keeps one completion per call through the steps and waits rows.
    store_at_version(tmp_path, 4).close()
    world = await opened(tmp_path)
    try:
        run = await new_run(world, started=True)
        await world.append(run, 1, [ev("step_created", "c1", step_id="s", input={}), ev("step_completed", "c1", result=1)])
        with pytest.raises(DuplicateCompletion):
            await world.append(run, 3, [ev("step_failed", "c1", error={}, attempt=1)])
        with pytest.raises(WorldError, match="has ended"):
            await world.append(run, 3, [ev("step_started", "c1", attempt=2)])
    finally:
        await world.close()
    with sqlite3.connect(tmp_path / "wdk.sqlite3") as conn:
        names = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'index'")]
    conn.close()
    assert "events_one_completion" not in names


async def _warm(world: LocalWorld, run: str) -> int:
    """Two appends: the second finds the run's state this connection committed (no read)."""
    await world.append(run, 1, [ev("step_created", "c1", step_id="s", input={}), ev("step_started", "c1", attempt=1)])
    await world.append(run, 3, [ev("step_completed", "c1", result=1)])
    assert world._commit.run_states[run][:2] == ("running", 4)
    return 4


async def test_a_run_started_here_is_appended_to_without_reading_its_state(tmp_path: Path) -> None:
    # start_run keeps the new run's state, and a batch that changes the run's
    # status keeps the status it wrote: no append of this run reads its state.
    world = await opened(tmp_path)
    try:
        selects: list[str] = []
        world._db.set_trace_callback(lambda sql: selects.append(sql) if "SELECT status, num" in sql else None)
        run = NewRun("r-kept", "workflow//app//flow", T0, {"input": {}})
        _, created, lease = await world.start_run(run, "wdk:workflows", owner="w1")
        assert created and lease is not None
        batches = [
            [ev("run_started"), ev("step_created", "c1", step_id="s", input={}), ev("step_started", "c1", attempt=1)],
            [ev("step_completed", "c1", result=1), ev("run_blocked")],
            [ev("run_unblocked")],
            [ev("run_failed", error={"message": "x"})],
            [ev("run_resumed", "r1")],
            [ev("run_completed", result=2)],
        ]
        seq = 0
        for batch in batches:
            await world.append(run.run_id, seq, batch)
            seq += len(batch)
            kept = world._commit.run_states[run.run_id]
            stored = await world.get_run(run.run_id)
            assert stored is not None and kept[:2] == (stored.status, stored.last_seq)
        assert selects == []
        # The kept terminal status refuses what follows a run's end, as the stored one does.
        with pytest.raises(ConflictError, match="already completed"):
            await world.append(run.run_id, seq, [ev("step_created", "c2", step_id="s", input={})])
    finally:
        await world.close()


async def test_a_run_known_to_hold_no_waits_or_hooks_ends_without_updating_them(tmp_path: Path) -> None:
    # The kept state says whether the run may hold waits or hooks rows: ending
    # one that holds none skips the two UPDATEs; one that made some ends them.
    world = await opened(tmp_path)
    try:
        statements: list[str] = []
        world._db.set_trace_callback(statements.append)

        async def run_to_end(rid: str, middle: list[Any]) -> list[str]:
            await world.start_run(NewRun(rid, "workflow//app//flow", T0, {"input": {}}), "q", owner="w1")
            seq = 0
            for batch in ([ev("run_started")], *([m] for m in middle)):
                seq = (await world.append(rid, seq, batch))[-1].seq
            statements.clear()
            await world.append(rid, seq, [ev("run_completed", result=1)])
            return [s.split(" SET")[0] for s in statements if s.startswith(("UPDATE hooks", "UPDATE waits"))]

        assert await run_to_end("quiet", [ev("step_created", "c1", step_id="s", input={})]) == []
        ends = await run_to_end("waiting", [ev("wait_created", "w1", resume_at=T0 + 60), ev("hook_created", "h1", token="t1")])
        assert ends == ["UPDATE hooks", "UPDATE waits"]
        assert [w.status for w in await world.list_waits("waiting")] == ["cancelled"]
        assert [h.status for h in await world.list_hooks("waiting")] == ["disposed"]
        assert await world.get_hook("t1") is None
    finally:
        await world.close()


async def test_a_run_whose_state_was_read_ends_its_waits_and_hooks(tmp_path: Path) -> None:
    # Another connection made the wait and the hook: this one does not know, so it ends them.
    a, b = await opened(tmp_path), await opened(tmp_path)
    try:
        run = await new_run(b, started=True)
        await b.append(run, 1, [ev("wait_created", "w1", resume_at=T0 + 60), ev("hook_created", "h1", token="t1")])
        await a.append(run, 3, [ev("run_cancelled")])
        assert [w.status for w in await a.list_waits(run)] == ["cancelled"]
        assert [h.status for h in await a.list_hooks(run)] == ["disposed"]
    finally:
        await a.close()
        await b.close()


async def test_a_kept_run_state_follows_a_cancel_and_ignores_step_batches(tmp_path: Path) -> None:
    world = await opened(tmp_path)
    try:
        run = NewRun("r-cancel", "workflow//app//flow", T0, {"input": {}})
        await world.start_run(run, "wdk:workflows", owner="w1")
        await world.append(run.run_id, 0, [ev("run_started"), ev("step_created", "c1", step_id="s", input={})])
        await world.append(run.run_id, 2, [ev("step_started", "c1", attempt=1)])
        assert world._commit.run_states[run.run_id][:2] == ("running", 3)
        await world.append(run.run_id, 3, [ev("step_completed", "c1", result=1), ev("run_cancelled")])
        assert world._commit.run_states[run.run_id][:2] == ("cancelled", 5)
    finally:
        await world.close()


async def test_a_kept_run_state_still_sees_another_connections_append(tmp_path: Path) -> None:
    a, b = await opened(tmp_path), await opened(tmp_path)
    try:
        run = await new_run(a, started=True)
        seq = await _warm(a, run)
        await b.append(run, seq, [ev("wait_created", "w", resume_at=T0)])
        # a's kept state says seq 4: the events primary key refuses seq 5, and it is a conflict.
        with pytest.raises(ConflictError, match="the log is at 5") as info:
            await a.append(run, seq, [ev("step_created", "c2", step_id="s", input={})])
        assert not isinstance(info.value, DuplicateCompletion)
        assert run not in a._commit.run_states
        assert [e.type for e in await a.read_events(run, after_seq=seq)] == ["wait_created"]
        assert [s.correlation_id for s in await a.list_steps(run)] == ["c1"]
        await a.append(run, seq + 1, [ev("step_created", "c2", step_id="s", input={})])
    finally:
        await a.close()
        await b.close()


async def test_a_kept_run_state_still_sees_a_cancel_by_another_connection(tmp_path: Path) -> None:
    a, b = await opened(tmp_path), await opened(tmp_path)
    try:
        run = await new_run(a, started=True)
        seq = await _warm(a, run)
        await b.append(run, seq, [ev("run_cancelled")])
        with pytest.raises(ConflictError, match="another writer"):
            await a.append(run, seq, [ev("step_created", "c2", step_id="s", input={})])
        with pytest.raises(ConflictError, match="already cancelled"):
            await a.append(run, seq + 1, [ev("step_created", "c2", step_id="s", input={})])
        assert (await a.get_run(run)).status == "cancelled"  # type: ignore[union-attr]
    finally:
        await a.close()
        await b.close()


async def test_a_kept_run_state_refuses_a_gap_and_a_stale_seq(tmp_path: Path) -> None:
    world = await opened(tmp_path)
    try:
        run = await new_run(world, started=True)
        seq = await _warm(world, run)
        for expected in (seq + 1, seq - 1):
            with pytest.raises(ConflictError, match="another writer"):
                await world.append(run, expected, [ev("step_created", "c2", step_id="s", input={})])
        assert await world.append(run, seq, []) == []
        assert [e.seq for e in await world.read_events(run)] == list(range(seq + 1))
    finally:
        await world.close()


async def test_a_rolled_back_append_leaves_no_run_state(tmp_path: Path) -> None:
    world = await opened(tmp_path)
    try:
        run = await new_run(world, started=True)
        seq = await _warm(world, run)
        # The second op fails after its events were inserted: rolled back, its state not kept.
        results = await asyncio.gather(
            world.append(run, seq, [ev("wait_created", "w", resume_at=T0)]),
            world.append(run, seq + 1, [ev("step_completed", "c1", result=2)]),
            return_exceptions=True,
        )
        assert results[0][0].seq == seq + 1  # type: ignore[index]
        assert isinstance(results[1], DuplicateCompletion)
        assert world._commit.run_states[run][:2] == ("running", seq + 1)  # the first op's, committed
        assert world._commit.uncommitted == []
        await world.append(run, seq + 1, [ev("wait_completed", "w")])
        assert world._commit.run_states[run][:2] == ("running", seq + 2)
    finally:
        await world.close()


def _drive(coro: Any) -> tuple[bool, Any]:
    """Run `coro` to its first suspension: (True, result) when it finished
    without giving the loop a turn, else (False, what it waits on)."""
    try:
        return False, coro.send(None)
    except StopIteration as stop:
        return True, stop.value


async def test_an_append_with_nothing_else_ready_commits_without_a_loop_turn(tmp_path: Path) -> None:
    # Nothing else could join its group commit: the append commits at once
    # (one event-loop turn less per step), at most EAGER_IN_A_ROW times in a
    # row, so that timers and I/O still get their turn between the steps.
    world = await opened(tmp_path)
    run = await new_run(world, started=True)
    other = sqlite3.connect(world.path)
    seq, turns = 1, []
    for i in range(3 * sqlite_commit.EAGER_IN_A_ROW):
        coro = world.append(run, seq, [ev("wait_created", f"w{i}", resume_at=T0)])
        at_once, value = _drive(coro)
        if at_once:  # committed before it returned: another connection sees it
            assert other.execute(LAST_SEQ, (run,)).fetchone()[0] == seq + 1
        else:
            await asyncio.sleep(0)  # its group commit runs
            finished, value = _drive(coro)
            assert finished
        turns.append(at_once)
        seq = value[-1].seq
    other.close()
    await world.close()
    first_wait = turns.index(False)
    n = sqlite_commit.EAGER_IN_A_ROW
    assert turns[first_wait + 1 : first_wait + 2 + n] == [True] * n + [False], turns


async def test_an_append_with_other_work_ready_joins_the_group_commit(tmp_path: Path) -> None:
    world = await opened(tmp_path)
    run = await new_run(world, started=True)
    asyncio.get_running_loop().call_soon(lambda: None)  # something else ready
    coro = world.append(run, 1, [ev("wait_created", "w", resume_at=T0)])
    finished, _ = _drive(coro)
    assert not finished
    await asyncio.sleep(0)
    finished, events = _drive(coro)
    assert finished and [e.seq for e in events] == [2]
    await world.close()


async def test_a_group_commit_takes_savepoints_only_when_a_write_fails(tmp_path: Path) -> None:
    world = await opened(tmp_path)
    try:
        runs = [await new_run(world, started=True) for _ in range(3)]
        statements: list[str] = []
        world._db.set_trace_callback(statements.append)
        await asyncio.gather(*(world.append(r, 1, [ev("wait_created", "w", resume_at=T0)]) for r in runs))
        assert [s for s in statements if "SAVEPOINT" in s or s in ("BEGIN IMMEDIATE", "COMMIT")] == [
            "BEGIN IMMEDIATE", "COMMIT",
        ]
        statements.clear()
        # The middle write fails after its event insert: the batch runs again
        # with savepoints, and only that write is undone.
        results = await asyncio.gather(
            world.append(runs[0], 2, [ev("wait_completed", "w")]),
            world.append(runs[1], 2, [ev("wait_completed", "nope")]),
            world.append(runs[2], 2, [ev("wait_completed", "w")]),
            return_exceptions=True,
        )
        assert isinstance(results[1], ConflictError) and "unknown wait" in str(results[1])
        assert not isinstance(results[0], BaseException) and not isinstance(results[2], BaseException)
        assert statements.count("BEGIN IMMEDIATE") == 2 and statements.count("SAVEPOINT op") == 3
        for run, seq in zip(runs, (3, 2, 3), strict=True):
            info = await world.get_run(run)
            assert info is not None and info.last_seq == seq
        assert world._commit.run_states[runs[0]][:2] == ("running", 3)
        assert runs[1] not in world._commit.run_states
    finally:
        await world.close()


@pytest.mark.parametrize(
    ("cid", "n"),
    [
        ("step_1_ab", 1), ("step_123456789_x", 123456789), ("hook_7_", 7), ("step_12_a_b", 12),
        ("step_0_x", 0), ("step_1234567890_x", None), ("step__x", None), ("step_12", None),
        ("c1", None), ("step_+1_x", None), ("step_1a_x", None), ("step_\u0661_x", None), ("", None),
    ],
)
def test_a_call_number_is_the_ascii_digits_between_the_first_two_underscores(cid: str, n: int | None) -> None:
    assert call_number(cid) == n
    # step_key remembers the answer: the second lookup gives the same key.
    for _ in range(2):
        assert step_key(3, cid) == (None if n is None else (3 << 32) | n)


def test_step_key_keeps_a_bounded_number_of_answers() -> None:
    for i in range(sqlite_keys.NUMBERS_KEPT + 10):
        assert step_key(1, f"step_{i}_x") == (1 << 32) | i
    assert len(sqlite_keys._NUMBERS) <= sqlite_keys.NUMBERS_KEPT


async def test_a_write_cancelled_before_its_group_commit_is_not_run(tmp_path: Path) -> None:
    world = await opened(tmp_path)
    try:
        run = await new_run(world, started=True)
        asyncio.get_running_loop().call_soon(lambda: None)  # something else ready: the appends wait for the flush
        first = asyncio.ensure_future(world.append(run, 1, [ev("wait_created", "w1", resume_at=T0)]))
        second = asyncio.ensure_future(world.append(run, 1, [ev("wait_created", "w2", resume_at=T0)]))
        await asyncio.sleep(0)  # both queued
        first.cancel()
        assert [e.seq for e in await second] == [2]
        assert [w.correlation_id for w in await world.list_waits(run)] == ["w2"]
    finally:
        await world.close()


async def test_a_batch_longer_than_one_insert_is_written_whole_and_in_order(tmp_path: Path) -> None:
    # The events INSERT takes _INSERT_CHUNK rows; a longer batch takes several.
    world = await opened(tmp_path)
    try:
        run = await new_run(world, started=True)
        n = 2 * sqlite_log._INSERT_CHUNK + 3
        batch = [ev("wait_created", f"w{i}", resume_at=T0 + i) for i in range(n)]
        written = await world.append(run, 1, batch)
        assert [e.seq for e in written] == list(range(2, n + 2))
        read = await world.read_events(run, after_seq=1)
        assert [(e.seq, e.correlation_id) for e in read] == [(i + 2, f"w{i}") for i in range(n)]
        assert len(await world.list_waits(run)) == n
    finally:
        await world.close()
