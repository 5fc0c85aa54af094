"""A confirmed write is never lost: real processes opening and closing one store.

Two `wdk worker` processes share a data dir and run parents that start child
runs (`wdk.api.start` from a step, in the worker's own loop). Clients in
short-lived processes start a run, wait for its result and exit, closing the
store; this process reads each finished run and closes the store again; one
worker is restarted midway. Whatever any of them saw finished must be in the
store at the end, exactly as seen, and the file must pass an integrity check.

Before the fix a worker that started a child run opened the file a second time
outside SQLite, which released its POSIX locks: the next process to close the
store deleted `-wal`/`-shm` under the workers, and their later writes vanished.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from e2e_support import Worker, child_env, query, run_state, start_in_child, wait_runs, workers
from flows import family

from wdk.runtime.serde import from_builtins

ROUNDS = 6


@pytest.mark.local_only("POSIX locks on the SQLite file")
@pytest.mark.timeout(240)
async def test_every_confirmed_write_survives_processes_closing_the_store(
    data_dir: Path, tmp_path: Path, subprocess_env: dict[str, str]
) -> None:
    # Clients are client-only: the workers start the child runs.
    env = child_env(subprocess_env, WDK_EMBEDDED_WORKER="0")
    wal = data_dir / "wdk.sqlite3-wal"
    seen: dict[str, list[tuple[int, str, str | None]]] = {}  # run id -> events as read once finished
    with workers(data_dir, env, tmp_path, n=2, extra=("--concurrency", "4")) as pair:
        for i in range(ROUNDS):
            if i == ROUNDS // 2:
                old = pair[1]
                assert old.stop() == 0, old.stderr()
                pair[1] = Worker(data_dir, env, tmp_path / "worker1-restarted.log")
            client = start_in_child(data_dir, "flows.family:parent", [i], env)
            assert client.status == 0, client.stderr
            assert json.loads(client.stdout.splitlines()[1]) == family.expected(i)
            run, events = await run_state(data_dir, client.run_id)
            assert run.status == "completed"
            seen[client.run_id] = [(e.seq, e.type, e.correlation_id) for e in events]
            assert wal.exists(), f"round {i}: another process deleted the WAL the workers write to"
        logs = "\n".join(w.stderr() for w in pair)

    # Every run (parents and the children they started) ended, none twice.
    rows = query(data_dir, "SELECT id, status, parent_run_id FROM runs")
    assert len(rows) == 2 * ROUNDS, (rows, logs)
    finished = await wait_runs(data_dir, [r[0] for r in rows], timeout=5)
    assert {r.status for r in finished.values()} == {"completed"}, logs
    children = {r[2] for r in rows if r[2] is not None}
    assert children == set(seen)

    for i, (run_id, events) in enumerate(seen.items()):
        run, now = await run_state(data_dir, run_id)
        assert [(e.seq, e.type, e.correlation_id) for e in now] == events, f"run {run_id} changed"
        assert from_builtins(run.output) == family.expected(i)
    assert query(data_dir, "PRAGMA integrity_check") == [("ok",)]
