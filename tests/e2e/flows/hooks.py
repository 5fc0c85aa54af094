"""Workflows that wait on hooks."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from wdk import create_hook, define_hook, sleep


@dataclass
class Approval:
    approved: bool
    comment: str = ""


ApprovalHook = define_hook(Approval)


async def record(token: str) -> str:
    "use step"
    return token


async def one_payload(token: str) -> object:
    "use workflow"
    hook = create_hook(token)
    await record(hook.token)
    return await hook


async def three_payloads(token: str) -> list[object]:
    "use workflow"
    hook = create_hook(token)
    got: list[object] = []
    async for payload in hook:
        got.append(payload)
        if len(got) == 3:
            break
    return got


async def default_token() -> str:
    "use workflow"
    hook = create_hook()
    await record(hook.token)
    await hook
    return hook.token


async def typed(token: str) -> bool:
    "use workflow"
    hook = ApprovalHook.create(token)
    value = await hook
    return value.approved


async def race(token: str, seconds: float) -> str:
    "use workflow"
    hook = create_hook(token)
    try:
        payload = await asyncio.wait_for(hook, seconds)
    except TimeoutError:
        return "timeout"
    return f"got {payload}"


async def race_sleep(token: str, seconds: float) -> str:
    "use workflow"
    hook = create_hook(token)
    hook_task = asyncio.ensure_future(hook)  # type: ignore[arg-type]
    sleep_task = asyncio.ensure_future(sleep(seconds))
    done, _ = await asyncio.wait({hook_task, sleep_task}, return_when=asyncio.FIRST_COMPLETED)
    if hook_task in done:
        return f"hook {hook_task.result()}"
    return "slept"


async def conflict(token: str) -> str:
    "use workflow"
    hook = create_hook(token)
    try:
        await hook
    except Exception as exc:
        return type(exc).__name__
    return "no conflict"
