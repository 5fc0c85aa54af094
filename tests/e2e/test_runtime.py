"""The durable runtime through the public API only, on the local world."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from flows import basic

from wdk import SerializationError, WorkflowCancelled, WorkflowFailed
from wdk.api import get_run, start
from wdk.errors import RunNotFound


async def test_sequential_steps_complete_with_result() -> None:
    run = await start(basic.three_steps, 4)
    assert await run.result(timeout=10) == 20
    assert await run.status() == "completed"
    types = [e.type for e in await run.events()]
    assert types[:2] == ["run_created", "run_started"]
    assert types[-1] == "run_completed"
    assert types.count("step_created") == 3
    assert types.count("step_completed") == 3


async def test_parallel_steps() -> None:
    run = await start(basic.parallel, 5)
    assert await run.result(timeout=10) == [0, 2, 4, 6, 8]


async def test_retries_until_success_with_attempts_recorded() -> None:
    run = await start(basic.retrying, 2)
    assert await run.result(timeout=10) == 3
    events = await run.events()
    assert [e.payload["attempt"] for e in events if e.type == "step_started"] == [1, 2, 3]
    assert sum(e.type == "step_retrying" for e in events) == 2


async def test_retryable_error_retry_after() -> None:
    run = await start(basic.uses_retry_after)
    assert await run.result(timeout=10) == 2
    events = await run.events()
    retry = next(e for e in events if e.type == "step_retrying")
    # retry_at is set when the attempt fails, just before the event is stamped ...
    assert retry.payload["retry_at"] - retry.at <= 0.05 + 1e-3
    # ... and the next attempt waited for it.
    second = next(e for e in events if e.type == "step_started" and e.payload["attempt"] == 2)
    assert second.at >= retry.payload["retry_at"]


async def test_fatal_error_fails_run_without_retry() -> None:
    before = basic.CALLS.get("fatal", 0)
    run = await start(basic.fails_fatally)
    with pytest.raises(WorkflowFailed) as info:
        await run.result(timeout=10)
    assert info.value.error_type == "FatalError"
    assert "card declined" in str(info.value)
    assert basic.CALLS["fatal"] == before + 1
    assert await run.status() == "failed"


async def test_step_error_is_raised_in_workflow_as_original_type() -> None:
    run = await start(basic.catches)
    assert await run.result(timeout=10) == "caught ValueError: bad input"


async def test_durable_sleep() -> None:
    run = await start(basic.sleeper, 0.3)
    elapsed = await run.result(timeout=10)
    assert elapsed >= 0.3
    types = [e.type for e in await run.events()]
    assert "wait_created" in types and "wait_completed" in types


async def test_asyncio_sleep_is_durable_in_workflow() -> None:
    run = await start(basic.asyncio_sleeper)
    assert await run.result(timeout=10) == "woke"
    assert any(e.type == "wait_created" for e in await run.events())


async def test_dataclass_round_trip() -> None:
    run = await start(basic.order_flow, basic.Order("o1", ["a"]))
    assert await run.result(timeout=10) == basic.Order("O1", ["a", "gift"])


async def test_metadata() -> None:
    run = await start(basic.metadata_flow)
    out = await run.result(timeout=10)
    assert out["run_id"] == run.id
    assert out["step"]["attempt"] == 1
    assert out["step"]["key"] == f"{run.id}:{out['step']['corr']}"


async def test_idempotency_key_returns_same_run() -> None:
    a = await start(basic.three_steps, 1, idempotency_key="k1")
    b = await start(basic.three_steps, 1, idempotency_key="k1")
    assert a.id == b.id
    assert await a.result(timeout=10) == 14


async def test_cancel_sleeping_run() -> None:
    run = await start(basic.sleeps_long)
    for _ in range(100):
        if any(e.type == "wait_created" for e in await run.events()):
            break
        await asyncio.sleep(0.02)
    await run.cancel()
    assert await run.status() == "cancelled"
    with pytest.raises(WorkflowCancelled):
        await run.result(timeout=5)


async def test_cancel_running_step() -> None:
    run = await start(basic.long_running)
    for _ in range(100):
        if any(e.type == "step_started" for e in await run.events()):
            break
        await asyncio.sleep(0.02)
    await run.cancel()
    with pytest.raises(WorkflowCancelled):
        await run.result(timeout=5)  # the step would take 30 s


async def test_step_timeout_fails_attempt() -> None:
    run = await start(basic.times_out)
    with pytest.raises(WorkflowFailed) as info:
        await run.result(timeout=10)
    assert info.value.error_type == "TimeoutError"


async def test_step_options_decorator_sets_retries_backoff_and_timeout() -> None:
    run = await start(basic.typed_policies)
    assert await run.result(timeout=10) == [
        "ValueError: attempt 3",  # max_retries=2: three attempts
        "TimeoutError: step step//flows.basic//slow_plain_step timed out after 50ms",
    ]
    events = await run.events()
    attempts = [(e.correlation_id, e.payload["attempt"]) for e in events if e.type == "step_started"]
    first, second = attempts[0][0], attempts[-1][0]
    assert attempts == [(first, 1), (first, 2), (first, 3), (second, 1)]


async def test_nested_step_reads_workflow_locals() -> None:
    run = await start(basic.nested, 5)
    assert await run.result(timeout=10) == 15


async def test_unknown_run_id() -> None:
    with pytest.raises(RunNotFound):
        await get_run("wrun_nope").status()


async def test_unserializable_argument_fails_before_writing() -> None:
    with pytest.raises(SerializationError) as info:
        await start(basic.three_steps, object())
    assert "args[0]" in str(info.value)


async def test_unserializable_step_result_names_the_step() -> None:
    run = await start(basic.returns_unstorable)
    kind, message, path = await run.result(timeout=10)
    assert kind == "SerializationError" and path == "result['lock']"
    assert message.startswith("step step//flows.basic//unstorable returned a value wdk cannot store: ")
    assert "_thread.lock at result['lock']" in message


async def test_deterministic_time_and_random_across_replay() -> None:
    from wdk.runtime.engine import current_runtime

    run = await start(basic.deterministic)
    first = await run.result(timeout=10)
    rt = current_runtime()
    assert rt is not None
    # Replaying the whole log cold gives the same values the live run saw.
    from wdk.runtime.instance import WorkflowInstance

    events = await run.events()
    fn = rt.loader.workflow_function(events[0].payload["workflow_id"])
    inst = WorkflowInstance(run.id, "x", fn, events[0], store_secret=await rt.world.store_secret())
    for ev in events:
        inst.apply(ev)
    ok, value = inst.outcome()
    inst.close()
    assert ok and value == first


async def test_child_runs() -> None:
    run = await start(basic.parent, 1)
    result = await run.result(timeout=20)
    assert result == [101, "ChildRunFailed"]
    types = [e.type for e in await run.events()]
    # start child, await child, start failing child: completed; await it: failed
    assert types.count("step_completed") == 3
    assert types.count("step_failed") == 1


async def test_sandbox_violation_fails_run_with_clear_error() -> None:
    run = await start(basic.does_io)
    with pytest.raises(WorkflowFailed) as info:
        await run.result(timeout=10)
    assert info.value.error_type == "WorkflowSandboxError"
    assert "shutil.rmtree" in info.value.message
    assert "use step" in info.value.message


async def test_compile_error_refused_at_start(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from wdk import CompileError
    from wdk.api import start as start_

    (tmp_path / "broken_flow.py").write_text('def wf():\n    "use workflow"\n    return 1\n')
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(CompileError) as info:
        await start_("workflow//broken_flow//wf")
    assert "broken_flow.py:1" in str(info.value)
    assert "async def" in str(info.value)


def test_run_sync_from_plain_code() -> None:
    from wdk.api import run_sync

    assert run_sync(basic.three_steps, 1) == 14
    # A second asyncio.run gets a fresh runtime on the same data dir.
    assert run_sync(basic.parallel, 2) == [0, 2]


async def test_dataclass_built_in_workflow_code() -> None:
    run = await start(basic.builds_dataclass, "o7")
    assert await run.result(timeout=10) == basic.Order("O7", ["a", "gift"])


async def test_module_level_clients_load_and_stay_out_of_workflows() -> None:
    from flows import module_state

    run = await start(module_state.record, "o1")
    assert await run.result(timeout=10) >= 1
    bad = await start(module_state.misuses_client)
    with pytest.raises(WorkflowFailed) as info:
        await bad.result(timeout=10)
    assert info.value.error_type == "WorkflowSandboxError"
    assert "sqlite3.connect().execute" in info.value.message


async def test_starting_a_step_says_it_is_a_step() -> None:
    for target in (basic.add, "workflow//flows.basic//add", "step//flows.basic//add"):
        with pytest.raises((TypeError, LookupError), match=r'flows\.basic:add is a step \("use step"\)'):
            await start(target, 1, 2)
