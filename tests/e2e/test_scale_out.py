"""Scale-out on postgres: four `wdk worker` processes share one schema and
finish 500 runs of 10 steps started by this (client-only) process; one worker
is SIGKILLed mid-way and the others finish its runs once its leases expire.

The events table holds one completion per (run, correlation id); the step
ledger shows every attempt ran once, and the only steps that ran twice are the
ones the killed worker had in flight."""

from __future__ import annotations

import asyncio
import json
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from e2e_support import Worker, child_env, read_ledger
from flows import ledger, scale

from wdk.api import start
from wdk.runtime.engine import shutdown_runtime

pytestmark = pytest.mark.postgres_only

RUNS = 500
WORKERS = 4
KILL_AFTER = RUNS * scale.STEPS // 3  # ledger lines before the SIGKILL


async def _until_all_ended(conn: asyncpg.Connection, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        left = await conn.fetchval(
            "SELECT count(*) FROM runs WHERE status NOT IN ('completed', 'failed', 'cancelled')"
        )
        if left == 0:
            return
        assert time.monotonic() < deadline, f"{left} runs unfinished after {timeout} s"
        await asyncio.sleep(0.1)


def _count_lines(path: Path) -> int:
    return path.read_bytes().count(b"\n") if path.exists() else 0


@pytest.mark.timeout(90)
async def test_four_workers_finish_500_runs_and_survive_a_sigkill(
    data_dir: Path, tmp_path: Path, subprocess_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WDK_EMBEDDED_WORKER", "0")
    path = tmp_path / "ledger.jsonl"
    # Few connections each: 4 workers (pool, LISTEN, leases, identity) on a
    # server whose 100 connections other tests use at the same time.
    env = child_env(subprocess_env, LEDGER_PATH=str(path), WDK_LEASE_SECONDS="2", WDK_POSTGRES_POOL="5")
    extra = ("--concurrency", "25")
    started: list[Worker] = []
    try:
        for i in range(WORKERS):
            started.append(Worker(data_dir, env, tmp_path / f"worker{i}.log", *extra))
        victim, survivors = started[0], started[1:]
        runs = await asyncio.gather(*(start(scale.ten, i) for i in range(RUNS)))
        conn = await asyncpg.connect(subprocess_env["WDK_POSTGRES_URL"])
        try:
            await conn.execute(f'SET search_path = "{subprocess_env["WDK_POSTGRES_SCHEMA"]}"')
            # Kill once a third is done and the victim holds runs with steps
            # left (a leased message of the flow queue; its owner names its
            # pid): on a loaded machine it can sit a moment holding none.
            held_by_victim = (
                "SELECT q.key FROM queue q JOIN runs r ON r.id = q.key "
                "WHERE q.queue = 'flow' AND q.owner LIKE $1 "
                "AND r.status NOT IN ('completed', 'failed', 'cancelled') "
                f"AND (SELECT count(*) FROM events e WHERE e.run_id = q.key AND e.type = 'step_completed') < {scale.STEPS}"
            )
            owner = f"%:{victim.pid}:%"
            while _count_lines(path) < KILL_AFTER or not await conn.fetch(held_by_victim, owner):
                assert victim.proc.poll() is None, victim.stderr()
                await asyncio.sleep(0.02)
            victim.proc.kill()
            killed_at = time.monotonic()
            assert victim.proc.wait(5) < 0
            # Its leases stay in its name until they expire (2 s): what it held
            # unfinished. Every such run has a step left for a survivor.
            held = {r["key"] for r in await conn.fetch(held_by_victim, owner)}
            await shutdown_runtime()
            await _until_all_ended(conn, 45)
            rows = await conn.fetch("SELECT id, status, output FROM runs")
            dupes = await conn.fetch(
                "SELECT run_id, correlation_id, count(*) FROM events "
                "WHERE type IN ('step_completed', 'step_failed', 'wait_completed') "
                "GROUP BY run_id, correlation_id HAVING count(*) <> 1"
            )
            completions = await conn.fetch(
                "SELECT run_id, count(*) FROM events WHERE type = 'step_completed' GROUP BY run_id"
            )
        finally:
            await conn.close()
    finally:
        codes = [w.stop() for w in started]
    assert codes[1:] == [0] * len(survivors), [w.log.read_text()[-2000:] for w in survivors]

    # Every run completed with the right result, each step completed exactly once.
    expected = {run.id: ledger.expected(i, scale.STEPS) for i, run in enumerate(runs)}
    assert {r["id"]: r["status"] for r in rows} == dict.fromkeys(expected, "completed")
    assert {r["id"]: json.loads(r["output"]) for r in rows} == expected
    assert dupes == []
    assert {r["run_id"]: r["count"] for r in completions} == dict.fromkeys(expected, scale.STEPS)

    lines = read_ledger(path)
    by_attempt: dict[tuple[str, str, int, int], list[int]] = defaultdict(list)
    by_step: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for line in lines:
        by_attempt[(line["run"], line["corr"], line["attempt"], line["recovery"])].append(line["pid"])
        by_step[(line["run"], line["corr"])].append(line)
    assert len(by_step) == RUNS * scale.STEPS
    assert [k for k, pids in by_attempt.items() if len(pids) > 1] == []
    # A step ran more than once only if the killed worker ran it before it
    # died, and its completion was lost with it: the later attempt is elsewhere.
    again = {k: v for k, v in by_step.items() if len(v) > 1}
    for key, attempts in again.items():
        attempts.sort(key=lambda a: (a["attempt"], a["recovery"]))
        assert {a["pid"] for a in attempts[:-1]} == {victim.pid}, (key, attempts)
        assert attempts[-1]["pid"] != victim.pid, (key, attempts)
    assert len(again) <= 25  # at most one step in flight per run it held

    # The victim did work, the others did the rest, including runs it held.
    pids = [line["pid"] for line in lines]
    assert pids.count(victim.pid) > 0
    assert set(pids) == {w.pid for w in started}
    # The runs it held when it died were finished by the others (all runs
    # completed, above; it was dead): the ledger shows survivors ran their steps.
    assert held, "the victim held no run when it was killed"
    # A run whose every step the victim ran had its last completion in flight at
    # the kill: the server committed it after `held` was read, so nobody had a
    # step left to run (a survivor only ended the run). The rest needed a survivor.
    ran_by_victim: dict[str, set[str]] = defaultdict(set)
    for line in lines:
        if line["pid"] == victim.pid:
            ran_by_victim[line["run"]].add(line["corr"])
    unfinished = {run for run in held if len(ran_by_victim[run]) < scale.STEPS}
    by_survivors = {line["run"] for line in lines if line["pid"] != victim.pid}
    last = max(line["t0"] for line in lines if line["pid"] == victim.pid) - killed_at
    assert unfinished <= by_survivors, (
        f"runs the killed worker held were not finished by another: {sorted(unfinished - by_survivors)}; "
        f"its last step began {last:+.2f} s from the kill, {pids.count(victim.pid)} steps of {len(lines)}"
    )
