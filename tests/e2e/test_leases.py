"""Leases: a live worker keeps its runs whatever its event loop does, and a
worker that lost a run (it was frozen past its lease) cannot record over the
worker that took it.

Two `wdk worker` processes share the store with a 1 s lease.
"""

from __future__ import annotations

import os
import signal
from collections.abc import AsyncIterator
from pathlib import Path

import e2e_support
import pytest
from e2e_support import child_env, wait_runs, workers
from e2e_support import until as _until
from flows import blocking

from wdk.api import start
from wdk.runtime.engine import FLOW
from wdk.worlds import World

LEASE = "1"
DEADLINE = 30.0


def _ledger(path: Path) -> list[tuple[int, str]]:
    if not path.exists():
        return []
    return [(int(p), a) for p, a in (line.split() for line in path.read_text().splitlines())]


@pytest.fixture
async def world(data_dir: Path) -> AsyncIterator[World]:
    """The test's store, read from this process."""
    opened = e2e_support.create_world("local", data_dir=data_dir)
    await opened.open()
    try:
        yield opened
    finally:
        await opened.close()


@pytest.fixture
def env(subprocess_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    monkeypatch.setenv("WDK_EMBEDDED_WORKER", "0")  # only the two workers advance runs
    return child_env(subprocess_env, WDK_LEASE_SECONDS=LEASE)


@pytest.mark.timeout(90)
async def test_a_blocked_event_loop_keeps_its_lease(
    data_dir: Path, tmp_path: Path, env: dict[str, str], world: World
) -> None:
    ledger, gate = tmp_path / "ledger", tmp_path / "gate"
    with workers(data_dir, env, tmp_path, n=2):
        run = await start(blocking.blocked, str(ledger), str(gate))
        await _until("the step to start", lambda: _ledger(ledger))
        # The step's worker cannot run its loop; its lease must still be
        # renewed. Watch the expiry move forward three times (3 leases).
        seen: list[float] = []

        async def renewed_three_times() -> bool:
            at = await world.next_available_at(FLOW)
            if at is not None and (not seen or at > seen[-1]):
                seen.append(at)
            return len(seen) >= 4

        await _until("the lease to be renewed", renewed_three_times)
        gate.touch()
        runs = await wait_runs(data_dir, [run.id], timeout=DEADLINE)
    assert runs[run.id].status == "completed", runs[run.id].error
    assert len(_ledger(ledger)) == 1, f"the step ran again: {_ledger(ledger)}"
    events = await world.read_events(run.id)
    assert [e.type for e in events].count("step_started") == 1


@pytest.mark.timeout(90)
async def test_a_frozen_worker_cannot_record_over_the_new_owner(
    data_dir: Path, tmp_path: Path, env: dict[str, str], world: World
) -> None:
    ledger, gate = tmp_path / "ledger", tmp_path / "gate"
    with workers(data_dir, env, tmp_path, n=2) as pair:
        run = await start(blocking.waiting, str(ledger), str(gate))
        await _until("the step to start", lambda: _ledger(ledger))
        frozen_pid = _ledger(ledger)[0][0]
        frozen = next(w for w in pair if w.pid == frozen_pid)
        os.kill(frozen_pid, signal.SIGSTOP)
        try:
            # The lease lapses; the other worker recovers the same attempt.
            await _until("the other worker to take over", lambda: len(_ledger(ledger)) >= 2)
            gate.touch()
            runs = await wait_runs(data_dir, [run.id], timeout=DEADLINE)
        finally:
            os.kill(frozen_pid, signal.SIGCONT)
        # Thawed, the frozen worker finds its lease gone and records nothing.
        await _until("the frozen worker to notice", lambda: "lost the lease" in frozen.stderr() or "taken over" in frozen.stderr())
    assert runs[run.id].status == "completed", runs[run.id].error
    assert runs[run.id].output == "done"
    executions = _ledger(ledger)
    assert [a for _, a in executions] == ["1.0", "1.1"]
    assert executions[1][0] != frozen_pid
    events = await world.read_events(run.id)
    types = [e.type for e in events]
    assert types.count("step_completed") == 1
    starts = [(e.payload["attempt"], e.payload.get("recovery", 0)) for e in events if e.type == "step_started"]
    assert starts == [(1, 0), (1, 1)]
    assert types[-1] == "run_completed"
