"""A run's arguments are checked against its workflow's signature: a call
that could not begin fails where it is made, before anything is written, and
a run that was written anyway fails (it is not retried for ever)."""

from __future__ import annotations

import time
from pathlib import Path

import e2e_support
import pytest
from e2e_support import Worker, wait_runs
from flows import arguments

from wdk import WorkflowFailed
from wdk.api import get_run, start, start_with
from wdk.runtime import serde
from wdk.runtime.engine import FLOW, get_runtime
from wdk.worlds import NewRun, World

PROCESS_ORDER = "workflow//flows.arguments//process_order"
SIGNATURE = "process_order(order_id, qty, *, express=False)"


async def _runs(world: World) -> list[str]:
    return [r.id for r in (await world.list_runs()).items]


@pytest.mark.parametrize(
    ("args", "kwargs", "reason"),
    [
        (("o3",), {}, "missing a required argument: 'qty'"),
        (("o3", 1, True), {}, "too many positional arguments"),
        (("o3", 1), {"rush": True}, "got an unexpected keyword argument 'rush'"),
        (("o3",), {"order_id": "o4", "qty": 1}, "multiple values for argument 'order_id'"),
    ],
)
async def test_start_with_arguments_that_do_not_fit_raises_and_writes_nothing(
    args: tuple[object, ...], kwargs: dict[str, object], reason: str
) -> None:
    rt = await get_runtime()
    for workflow in (arguments.process_order, PROCESS_ORDER):
        with pytest.raises(TypeError) as info:
            await start(workflow, *args, **kwargs)
        assert str(info.value) == f"{SIGNATURE}: {reason}"
    assert await _runs(rt.world) == []


async def test_start_with_fitting_arguments_runs() -> None:
    run = await start(arguments.process_order, "o3", 2, express=True)
    assert await run.result(timeout=10) == "o3 x2 express"


async def _write_run(world: World, args: list[object], kwargs: dict[str, object]) -> str:
    """A run as an older client (or an older signature) wrote it: unchecked."""
    payload = {
        "workflow_id": PROCESS_ORDER,
        "input": serde.encode_call(tuple(args), kwargs),
        "seed": "00" * 16,
    }
    run_id = f"wrun_unchecked{time.time_ns()}"
    await world.create_run(NewRun(run_id, PROCESS_ORDER, time.time(), payload))
    await world.enqueue(FLOW, run_id)
    return run_id


async def test_a_written_run_that_cannot_begin_fails_with_the_type_error() -> None:
    rt = await get_runtime()
    run_id = await _write_run(rt.world, ["o3"], {})
    with pytest.raises(WorkflowFailed) as info:
        await get_run(run_id).result(timeout=10)
    assert info.value.error_type == "TypeError"
    assert info.value.message == f"{SIGNATURE}: missing a required argument: 'qty'"
    types = [e.type for e in await get_run(run_id).events()]
    assert types == ["run_created", "run_started", "run_failed"]


@pytest.mark.parametrize(
    ("by", "reason"),
    [
        ("function", "TypeError: " + SIGNATURE + ": missing a required argument: 'qty'"),
        ("id", "ChildArgumentsError: " + SIGNATURE + ": got an unexpected keyword argument 'rush'"),
    ],
)
async def test_a_child_started_with_bad_arguments_raises_in_the_parent(by: str, reason: str) -> None:
    run = await start(arguments.starts_child_badly, by)
    assert await run.result(timeout=20) == reason
    events = await run.events()
    rt = await get_runtime()
    assert await _runs(rt.world) == [run.id]  # no child was written
    starts = [e for e in events if e.type == "step_started"]
    if by == "function":
        assert starts == []  # refused at the call, before the start was recorded
    else:
        assert [e.payload["attempt"] for e in starts] == [1]  # never retried


@pytest.mark.timeout(60)
async def test_a_worker_fails_an_unchecked_run_without_a_traceback(
    data_dir: Path, tmp_path: Path, subprocess_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # The case: the run stayed pending, a traceback every second.
    monkeypatch.setenv("WDK_EMBEDDED_WORKER", "0")
    world = e2e_support.create_world("local", data_dir=data_dir)
    await world.open()
    try:
        run_ids = [await _write_run(world, ["o3"], {}) for _ in range(3)]
    finally:
        await world.close()
    worker = Worker(data_dir, subprocess_env, tmp_path / "worker.log")
    try:
        done = await wait_runs(data_dir, run_ids)
    finally:
        assert worker.stop() == 0
    for run in done.values():
        assert run.status == "failed"
        assert run.error is not None and run.error["type"] == "TypeError"
    assert "Traceback" not in worker.log.read_text()


async def test_start_with_keeps_options_apart_from_the_workflow_arguments() -> None:
    """A workflow parameter named like an option is the workflow's: options go
    through start_with, never through the arguments."""
    run = await start_with(idempotency_key="k-1")(arguments.keyed, idempotency_key="mine")
    assert await run.result(timeout=10) == "its own argument: mine"
    again = await start_with(idempotency_key="k-1")(arguments.keyed, idempotency_key="other")
    assert again.id == run.id  # the option: the same key is the same run
    other = await start_with(idempotency_key="k-2")(arguments.keyed, "positional")
    assert other.id != run.id and await other.result(timeout=10) == "its own argument: positional"
    # The older spelling still means the option, as it always did.
    same = await start(arguments.process_order, "o1", 1, idempotency_key="k-3")
    assert (await start(arguments.process_order, "o1", 1, idempotency_key="k-3")).id == same.id
