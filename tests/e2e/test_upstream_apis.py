"""APIs the upstream kit has, through wdk's public API, on both worlds:
workflow metadata inside steps, stream tails and negative start indexes,
hook lookup by token, explicit hook disposal, webhooks with a chosen token."""

from __future__ import annotations

import asyncio
import time

import pytest
from flows import apis

from wdk import HookNotFound
from wdk.api import HookInfo, Run, get_hook, resume_hook, resume_webhook, start
from wdk.runtime.webhooks import WebhookRequest


async def _until(run: Run, event_type: str, count: int = 1) -> None:
    deadline = time.monotonic() + 10
    while sum(e.type == event_type for e in await run.events()) < count:
        assert time.monotonic() < deadline, f"{event_type} x{count} never appeared"
        await asyncio.sleep(0.01)


# --- get_workflow_metadata() in a step ----------------------------------------------


async def test_workflow_metadata_inside_a_step() -> None:
    run = await start(apis.metadata_in_step)
    out = await run.result(timeout=10)
    assert out["step"] == out["workflow"]
    assert out["step"]["run_id"] == run.id
    assert out["step"]["workflow_id"] == "workflow//flows.apis//metadata_in_step"
    created = (await run.events())[0]
    assert out["step"]["started_at"] == created.at


# --- streams: negative start, tail index ---------------------------------------------


async def test_negative_start_counts_from_the_end() -> None:
    run = await start(apis.numbers, 5)
    assert await run.result(timeout=10) == 5
    assert [c async for c in run.stream(start=-1)] == [4]
    assert [c async for c in run.stream(start=-2)] == [3, 4]
    assert [c async for c in run.stream(start=-99)] == [0, 1, 2, 3, 4]  # clamped to the first
    assert [c async for c in run.stream(start=2)] == [2, 3, 4]


async def test_tail_index() -> None:
    run = await start(apis.numbers, 3)
    await run.result(timeout=10)
    assert await run.stream_tail_index() == 2
    assert await run.stream_tail_index("nothing-written") == -1


async def test_negative_start_on_a_live_stream_then_follows_it() -> None:
    run = await start(apis.keeps_stream_open, 4, "tail-live")
    await _until(run, "hook_created")
    assert await run.stream_tail_index("live") == 3
    got: list[object] = []

    async def read() -> None:
        async for chunk in run.stream("live", start=-1):
            got.append(chunk)

    reader = asyncio.ensure_future(read())
    deadline = time.monotonic() + 10
    while not got:
        assert time.monotonic() < deadline, "the reader got nothing"
        await asyncio.sleep(0.01)
    assert got == [3]  # the last chunk so far, then it follows the live stream
    await resume_hook("tail-live", "go on")
    assert await run.result(timeout=10) == 4
    await asyncio.wait_for(reader, 10)
    assert got == [3, 4]


# --- hooks: lookup by token, disposal --------------------------------------------------


async def test_get_hook_by_token() -> None:
    before = time.time()
    run = await start(apis.holds_token, "lookup-me")
    await _until(run, "hook_created")
    info = await get_hook("lookup-me")
    assert isinstance(info, HookInfo)
    assert (info.token, info.run_id, info.open) == ("lookup-me", run.id, True)
    assert before <= info.created_at <= time.time()
    await resume_hook("lookup-me", 7)
    assert await run.result(timeout=10) == "7"
    # Disposed with its run: still found by its token, no longer open.
    closed = await get_hook("lookup-me")
    assert (closed.run_id, closed.open) == (run.id, False)
    with pytest.raises(HookNotFound):
        await get_hook("never-made")


async def test_dispose_a_hook_while_the_run_goes_on() -> None:
    run = await start(apis.disposes, "dispose-me")
    await _until(run, "hook_created")
    await resume_hook("dispose-me", "first")
    await _until(run, "hook_created", 2)  # disposed, then created again under the same token
    types = [e.type for e in await run.events()]
    assert types.index("hook_disposed") < len(types) - 1
    assert await run.status() == "running"
    await resume_hook("dispose-me", "second")
    assert await run.result(timeout=10) == ["first", "second"]
    disposed = [e.correlation_id for e in await run.events() if e.type == "hook_disposed"]
    assert len(disposed) == len(set(disposed)) == 2  # once each: explicitly, and the new one at the end


async def test_dispose_and_take_the_token_again_in_one_commit() -> None:
    run = await start(apis.dispose_and_recreate, "same-commit")
    await _until(run, "hook_created")
    await resume_hook("same-commit", 1)
    await _until(run, "hook_created", 2)
    events = await run.events()
    created = [e for e in events if e.type == "hook_created"]
    assert not created[1].payload.get("conflict")  # the disposal came first
    await resume_hook("same-commit", 2)
    assert await run.result(timeout=10) == [1, 2]


async def test_disposed_hook_refuses_payloads_and_the_run_goes_on() -> None:
    run = await start(apis.dispose_then_wait, "dispose-2", "after-2")
    await _until(run, "hook_created")
    await resume_hook("dispose-2", "a")
    await _until(run, "hook_created", 2)
    info = await get_hook("dispose-2")
    assert (info.run_id, info.open) == (run.id, False)
    with pytest.raises(HookNotFound):
        await resume_hook("dispose-2", "b")
    await resume_hook("after-2", "c")
    assert await run.result(timeout=10) == ["a", "c"]


# --- webhooks with a chosen token --------------------------------------------------


async def test_webhook_with_a_chosen_token() -> None:
    run = await start(apis.webhook_with_token, "orders-42")
    await _until(run, "step_completed")
    url = next(e.payload["result"] for e in await run.events() if e.type == "step_completed")
    assert url.endswith("/.well-known/workflow/v1/webhook/orders-42")
    reply = await resume_webhook("orders-42", WebhookRequest.make("POST", body={"n": 1}))
    assert reply.status == 202
    assert await run.result(timeout=10) == ["orders-42", "POST", {"n": 1}]


async def test_webhook_token_taken_is_refused_clearly() -> None:
    holder = await start(apis.holds_token, "taken-token")
    await _until(holder, "hook_created")
    run = await start(apis.webhook_taken, "taken-token")
    out = await run.result(timeout=10)
    assert out.startswith("HookConflict: ") and "'taken-token' is already in use" in out
    await resume_hook("taken-token", "x")  # still the first run's hook
    assert await holder.result(timeout=10) == "x"


async def test_webhook_token_must_be_url_safe() -> None:
    from wdk import WorkflowFailed

    run = await start(apis.webhook_with_token, "not/url safe")
    with pytest.raises(WorkflowFailed, match="URL"):
        await run.result(timeout=10)


# --- health ---------------------------------------------------------------------------


async def test_health_of_this_process(e2e_world: str) -> None:
    from wdk.runtime.engine import get_runtime
    from wdk.runtime.health import check_health

    report = await check_health(await get_runtime())
    assert report.ok and report.reason is None
    assert report.world == e2e_world and report.world_ok
    assert report.consumer is True


async def test_a_disposal_replays_without_being_recorded_twice() -> None:
    from wdk.runtime.engine import get_runtime

    rt = await get_runtime()
    run = await start(apis.disposes, "dispose-cold")
    await _until(run, "hook_created")
    await resume_hook("dispose-cold", "first")
    await _until(run, "hook_created", 2)
    rt.orchestrator.drop(run.id)  # forget the live instance: the next event replays from the log
    await resume_hook("dispose-cold", "second")
    assert await run.result(timeout=10) == ["first", "second"]
    events = await run.events()
    disposed = [e.correlation_id for e in events if e.type == "hook_disposed"]
    assert len(disposed) == len(set(disposed)) == 2
