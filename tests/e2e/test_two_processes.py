"""Two `wdk worker` processes share one data dir; this process only starts
runs and reads results (WDK_EMBEDDED_WORKER=0: a client-only runtime).
Leases keep each step attempt in one process at a time."""

from __future__ import annotations

import asyncio
import itertools
import os
from collections import defaultdict
from pathlib import Path

import pytest
from e2e_support import child_env, read_ledger, workers
from flows import ledger as flows

from wdk.api import start
from wdk.runtime.engine import get_runtime

RUNS = 200


@pytest.mark.timeout(120)
async def test_two_workers_finish_200_runs_without_overlapping_attempts(
    data_dir: Path, tmp_path: Path, subprocess_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WDK_EMBEDDED_WORKER", "0")
    ledger = tmp_path / "ledger.jsonl"
    env = child_env(subprocess_env, LEDGER_PATH=str(ledger))
    rt = await get_runtime()
    try:
        # A small concurrency each, so that neither worker can lease everything.
        with workers(data_dir, env, tmp_path, n=2, extra=("--concurrency", "16")) as pair:
            runs = [await start(flows.chain, i) for i in range(RUNS)]
            results = await asyncio.wait_for(
                asyncio.gather(*(run.result(timeout=60) for run in runs)), 90
            )
        pids = {w.pid for w in pair}
    finally:
        await rt.stop()

    assert results == [flows.expected(i) for i in range(RUNS)]

    lines = read_ledger(ledger)
    by_call: dict[tuple[str, str], list[dict[str, float]]] = defaultdict(list)
    for line in lines:
        by_call[(line["run"], line["corr"])].append(line)
    assert len(by_call) == RUNS * flows.STEPS
    assert {run.id for run in runs} == {run_id for run_id, _ in by_call}

    worked = {line["pid"] for line in lines}
    assert os.getpid() not in worked, "the client-only process ran steps"
    assert worked == pids, f"both workers should have run steps, saw pids {worked} of {pids}"

    for key, attempts in by_call.items():
        numbers = [(a["attempt"], a["recovery"]) for a in attempts]
        assert len(numbers) == len(set(numbers)), f"{key}: attempt numbers repeat: {numbers}"
        spans = sorted((a["t0"], a["t1"]) for a in attempts)
        for (_, end), (begin, _) in itertools.pairwise(spans):
            assert end <= begin, f"{key}: two attempts overlapped in time: {spans}"
    # Nothing failed or crashed, so no step needed a second attempt at all.
    assert len(lines) == RUNS * flows.STEPS
