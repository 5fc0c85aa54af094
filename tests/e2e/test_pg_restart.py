"""PostgreSQL restarts while runs are in flight (steps running, durable sleeps
pending) under a `wdk worker` and an embedded runtime; every run completes
afterwards, and no step ran again except the attempts the outage cut short
(at-least-once, never more).

The server it stops for a second and starts again is a private cluster
(`private_postgres`: initdb + pg_ctl in a temporary folder, on a free port),
never the shared test server; skipped, saying why, where PostgreSQL's server
programs are not installed."""

from __future__ import annotations

import asyncio
import os
import time
from collections import defaultdict
from pathlib import Path
from subprocess import PIPE
from typing import Any

import asyncpg
import pytest
from e2e_support import Worker, child_env, read_ledger
from flows import scale
from pg_support import PrivateCluster

from wdk.api import Run, configure, start
from wdk.runtime.engine import get_runtime

pytestmark = [pytest.mark.postgres_only, pytest.mark.private_postgres]

RUNS = 12
SLOTS = 3  # runs advanced at once by the worker, and by this process
OUTAGE = 1.0  # seconds the server stays down


async def _ctl(cluster: PrivateCluster, action: str) -> None:
    # Not subprocess.run: the loop keeps running, this process's runtime sees the outage live.
    proc = await asyncio.create_subprocess_exec(
        *cluster.ctl(action), stdout=PIPE, stderr=PIPE, cwd=cluster.data_dir
    )
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 0, f"pg_ctl {action}: {(out + err).decode()}\n{cluster.log()}"


async def restart(cluster: PrivateCluster) -> None:
    """Stop the server (fast: connections are cut), leave it down a while, start it."""
    try:
        await _ctl(cluster, "stop")
        await asyncio.sleep(OUTAGE)
    finally:
        await _ctl(cluster, "start")


async def _until(runs: list[Run], event_type: str) -> None:
    for _ in range(500):
        events = await asyncio.gather(*(run.events() for run in runs))
        if all(any(e.type == event_type for e in evs) for evs in events):
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"not every run reached {event_type}")


@pytest.mark.timeout(90)
async def test_runs_in_flight_complete_after_the_server_restarts(
    data_dir: Path,
    tmp_path: Path,
    subprocess_env: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
    private_cluster: PrivateCluster,
) -> None:
    url = subprocess_env["WDK_POSTGRES_URL"]
    assert url == private_cluster.url
    # This process's leases last an hour: the runs it held when the server
    # went away can only finish in time if they are not left to expire.
    configure(lease_seconds=3600.0)
    path = tmp_path / "ledger.jsonl"
    monkeypatch.setenv("LEDGER_PATH", str(path))  # the embedded runtime's steps
    env = child_env(subprocess_env, LEDGER_PATH=str(path))
    # Few slots each, so that both this process and the worker run steps.
    worker = Worker(data_dir, env, tmp_path / "worker.log", "--concurrency", str(SLOTS))
    try:
        rt = await get_runtime()
        rt.concurrency = SLOTS
        # The first half is asleep (a durable timer due during the outage) when
        # the server goes down, the second half is halfway through its first step.
        runs = [await start(scale.slow_nap_slow, i) for i in range(RUNS // 2)]
        await _until(runs, "wait_created")
        runs += [await start(scale.slow_nap_slow, i) for i in range(RUNS // 2, RUNS)]
        await _until(runs[RUNS // 2 :], "step_started")
        # Clients wait for the results through the outage.
        waiting = asyncio.gather(*(run.result(timeout=45) for run in runs))
        await asyncio.sleep(scale.SLOW / 2)
        down = time.monotonic()
        await restart(private_cluster)
        up = time.monotonic()
        results = await waiting
    finally:
        code = worker.stop()
    assert code == 0, worker.log.read_text()[-3000:]
    assert results == [expected(i) for i in range(RUNS)]

    conn = await asyncpg.connect(url)
    try:
        await conn.execute(f'SET search_path = "{subprocess_env["WDK_POSTGRES_SCHEMA"]}"')
        dupes = await conn.fetch(
            "SELECT run_id, correlation_id FROM events WHERE type = 'step_completed' "
            "GROUP BY run_id, correlation_id HAVING count(*) > 1"
        )
        statuses = await conn.fetch("SELECT status, count(*) FROM runs GROUP BY status")
    finally:
        await conn.close()
    assert dupes == []
    assert [tuple(r) for r in statuses] == [("completed", RUNS)]

    # Every step ran; a step ran again only if an attempt overlapped the outage.
    by_step: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for line in read_ledger(path):
        by_step[(line["run"], line["corr"])].append(line)
    assert len(by_step) == RUNS * 2
    for key, attempts in by_step.items():
        numbers = [(a["attempt"], a["recovery"]) for a in attempts]
        assert len(numbers) == len(set(numbers)), (key, attempts)
        for lost in sorted(attempts, key=lambda a: (a["attempt"], a["recovery"]))[:-1]:
            assert lost["t1"] > down - 0.5 and lost["t0"] < up + 0.5, (key, attempts, down, up)
    pids = {a["pid"] for attempts in by_step.values() for a in attempts}
    assert pids == {os.getpid(), worker.pid}, "both the worker and this process ran steps"


def expected(x: int) -> int:
    return (x * 2 + 0) * 2 + 1
