"""Hooks through the public API."""

from __future__ import annotations

import asyncio

import pytest
from flows import hooks

from wdk import HookNotFound
from wdk.api import Run, resume_hook, start


async def _until(run: Run, event_type: str, count: int = 1) -> None:
    for _ in range(500):
        if sum(e.type == event_type for e in await run.events()) >= count:
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"{event_type} x{count} never appeared")


async def test_one_payload() -> None:
    run = await start(hooks.one_payload, "tok-1")
    await _until(run, "hook_created")
    await resume_hook("tok-1", {"ok": True})
    assert await run.result(timeout=10) == {"ok": True}
    # The hook is disposed with its run: the token is free again.
    with pytest.raises(HookNotFound):
        await resume_hook("tok-1", 1)


async def test_three_payloads_into_one_hook() -> None:
    run = await start(hooks.three_payloads, "tok-3")
    await _until(run, "hook_created")
    for i in range(3):
        await resume_hook("tok-3", i)
    assert await run.result(timeout=10) == [0, 1, 2]


async def test_default_token_is_unguessable_and_stable() -> None:
    run = await start(hooks.default_token)
    await _until(run, "step_completed")
    token = next(e.payload["token"] for e in await run.events() if e.type == "hook_created")
    assert token.startswith("wdkh_") and len(token) == 5 + 32
    await resume_hook(token, "x")
    assert await run.result(timeout=10) == token


async def test_unknown_token() -> None:
    with pytest.raises(HookNotFound):
        await resume_hook("no-such-token", 1)


async def test_typed_hook_refuses_bad_payload_and_keeps_waiting() -> None:
    run = await start(hooks.typed, "tok-typed")
    await _until(run, "hook_created")
    with pytest.raises(ValueError, match="Approval"):
        await resume_hook("tok-typed", {"approved": "not a bool"})
    assert await run.status() == "running"
    await hooks.ApprovalHook.resume("tok-typed", {"approved": True})
    assert await run.result(timeout=10) is True


async def test_hook_wins_race_with_timeout() -> None:
    run = await start(hooks.race, "tok-race", 3600)
    await _until(run, "hook_created")
    await resume_hook("tok-race", "hi")
    assert await run.result(timeout=10) == "got hi"


async def test_timeout_wins_race_with_hook() -> None:
    run = await start(hooks.race, "tok-race2", 0.2)
    assert await run.result(timeout=10) == "timeout"


async def test_hook_races_sleep_both_outcomes() -> None:
    slept = await start(hooks.race_sleep, "tok-rs1", 0.2)
    assert await slept.result(timeout=10) == "slept"
    run = await start(hooks.race_sleep, "tok-rs2", 3600)
    await _until(run, "hook_created")
    await resume_hook("tok-rs2", 7)
    assert await run.result(timeout=10) == "hook 7"


async def test_token_conflict() -> None:
    first = await start(hooks.conflict, "tok-c")
    await _until(first, "hook_created")
    second = await start(hooks.conflict, "tok-c")
    assert await second.result(timeout=10) == "HookConflict"
    await resume_hook("tok-c", 1)
    assert await first.result(timeout=10) == "no conflict"
