"""The crash matrix: SIGKILL a process at every boundary of a five-step
workflow (and during its durable sleep); a `wdk worker` started afterwards on
the same data dir finishes the run with the right result, and the ledger the
steps write shows exactly which step bodies ran, in which process, how often.
"""

from __future__ import annotations

import signal
from pathlib import Path

import pytest
from e2e_support import child_env, read_ledger, run_state, start_in_child, wait_runs, workers
from flows import crashy

from wdk.api import get_run

STEPS = ["s1", "s2", "s3", "s4", "s5"]
ARG = 7

CASES = [
    # Killed on entering step k: its start is committed, its body never ran.
    *(pytest.param(s, "start", id=f"kill-entering-{s}") for s in STEPS),
    # Killed after step k's side effect, before its completion is committed.
    *(pytest.param(s, "end", id=f"kill-after-effect-{s}") for s in STEPS),
    # Killed while the run sleeps between s2 and s3.
    pytest.param("s3", "sleep", id="kill-during-sleep"),
]


def expected_ledger(
    crash_step: str, when: str, steps: list[str] = STEPS
) -> list[tuple[str, int, int, str]]:
    """(step, attempt, recovery, process) in order: "first" is the killed
    process, "resume" the worker. Steps before the crash ran once, in the
    first process; the step killed mid-attempt runs again as the same attempt
    (a crash is not the step's failure: no retry is used up), recovery 1."""
    k = steps.index(crash_step)
    rows: list[tuple[str, int, int, str]] = []
    for i, name in enumerate(steps):
        if i < k:
            rows.append((name, 1, 0, "first"))
        elif i == k and when == "end":
            rows += [(name, 1, 0, "first"), (name, 1, 1, "resume")]
        elif i == k and when == "start":
            rows.append((name, 1, 1, "resume"))
        else:
            rows.append((name, 1, 0, "resume"))
    return rows


@pytest.mark.parametrize(("crash_step", "when"), CASES)
async def test_killed_run_resumes_in_a_new_process(
    crash_step: str, when: str, data_dir: Path, tmp_path: Path, subprocess_env: dict[str, str]
) -> None:
    ledger = tmp_path / "ledger.jsonl"
    env = child_env(
        subprocess_env, CRASHY_LEDGER=str(ledger), CRASHY_MARKER=str(tmp_path / "crashed")
    )
    if when != "sleep":
        env["CRASHY_AT"] = f"{crash_step}:{when}"

    child = start_in_child(
        data_dir,
        "flows.crashy:five",
        [ARG],
        env,
        kill_at_event="wait_created" if when == "sleep" else None,
    )
    assert child.status == -signal.SIGKILL, child.stderr
    assert (tmp_path / "crashed").exists() or when == "sleep"

    # What the dead process left: an unfinished run whose last word on the
    # crashed step is "attempt 1 started" (or, asleep, an open wait).
    before, events = await run_state(data_dir, child.run_id)
    assert before.status == "running"
    types = [e.type for e in events]
    if when == "sleep":
        assert "wait_created" in types and "wait_completed" not in types
    else:
        last = events[-1]
        assert last.type == "step_started" and last.payload["attempt"] == 1
        assert types.count("step_completed") == STEPS.index(crash_step)

    with workers(data_dir, env, tmp_path) as (worker,):
        runs = await wait_runs(data_dir, [child.run_id])
    run = runs[child.run_id]
    assert run.status == "completed", run.error
    assert run.output == crashy.expected(ARG)

    lines = read_ledger(ledger)
    assert {line["run"] for line in lines} == {child.run_id}
    assert all(line["pid"] in (child.pid, worker.pid) for line in lines)
    seen = [
        (line["step"], line["attempt"], line["recovery"], "resume" if line["pid"] == worker.pid else "first")
        for line in lines
    ]
    assert seen == expected_ledger(crash_step, when)

    _, events = await run_state(data_dir, child.run_id)
    types = [e.type for e in events]
    assert types.count("step_completed") == 5
    assert types.count("wait_created") == types.count("wait_completed") == 1
    assert types[-1] == "run_completed"
    # The timer stayed durable across the crash: s3 started only after the wake time.
    wait = next(e for e in events if e.type == "wait_created")
    s3_start = next(e for e in events if e.type == "step_started" and e.seq > wait.seq)
    assert s3_start.at >= wait.payload["resume_at"]


MIXED_CASES = [
    pytest.param(s, when, id=f"mixed-kill-{'entering' if when == 'start' else 'after-effect'}-{s}")
    for s in crashy.MIXED_STEPS
    for when in ("start", "end")
]


@pytest.mark.parametrize(("crash_step", "when"), MIXED_CASES)
async def test_killed_mixed_run_resumes(
    crash_step: str, when: str, data_dir: Path, tmp_path: Path, subprocess_env: dict[str, str]
) -> None:
    """A sync step, a child run, a hook resumed from a step, and a stream: a
    SIGKILL at each of their boundaries, then a worker finishes the run."""
    ledger = tmp_path / "ledger.jsonl"
    env = child_env(
        subprocess_env,
        CRASHY_LEDGER=str(ledger),
        CRASHY_MARKER=str(tmp_path / "crashed"),
        CRASHY_AT=f"{crash_step}:{when}",
    )
    child = start_in_child(data_dir, "flows.crashy:mixed", [ARG], env)
    assert child.status == -signal.SIGKILL, child.stderr

    with workers(data_dir, env, tmp_path) as (worker,):
        runs = await wait_runs(data_dir, [child.run_id])
    run = runs[child.run_id]
    assert run.status == "completed", run.error
    assert run.output == crashy.mixed_expected(ARG)

    lines = read_ledger(ledger)
    seen = [
        (line["step"], line["attempt"], line["recovery"], "resume" if line["pid"] == worker.pid else "first")
        for line in lines
    ]
    assert seen == expected_ledger(crash_step, when, crashy.MIXED_STEPS)
    # c1 ran in the child run, everything else in the parent.
    assert {line["run"] for line in lines if line["step"] != "c1"} == {child.run_id}
    child_runs = {line["run"] for line in lines if line["step"] == "c1"}
    assert len(child_runs) == 1 and child.run_id not in child_runs
    [child_run_id] = child_runs
    child_state = await wait_runs(data_dir, [child_run_id])
    assert child_state[child_run_id].status == "completed"

    _, events = await run_state(data_dir, child.run_id)
    types = [e.type for e in events]
    assert types[-1] == "run_completed"
    completions = [e.correlation_id for e in events if e.type == "step_completed"]
    assert len(completions) == len(set(completions))
    # The hook got its payload (twice when the resuming step ran twice).
    assert types.count("hook_received") == (2 if (crash_step, when) == ("resume", "end") else 1)
    # A reader that starts now sees the stream of the attempt that counted,
    # never the chunks of one killed mid-stream, and no rollback marker.
    b = (ARG + 1) * 3
    chunks = [c async for c in get_run(child.run_id).stream()]
    assert chunks == [f"{b}:{i}" for i in range(3)]
