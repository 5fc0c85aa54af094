"""Workflows for tests/e2e/test_upstream_apis.py: workflow metadata in steps,
stream tails, hook lookup and disposal, webhooks with a chosen token."""

from __future__ import annotations

from typing import Any

from wdk import create_hook, create_webhook, get_workflow_metadata, get_writable


async def step_metadata() -> dict[str, Any]:
    "use step"
    meta = get_workflow_metadata()
    return {"run_id": meta.run_id, "workflow_id": meta.workflow_id, "started_at": meta.started_at}


async def metadata_in_step() -> dict[str, Any]:
    "use workflow"
    inside = get_workflow_metadata()
    return {
        "step": await step_metadata(),
        "workflow": {
            "run_id": inside.run_id,
            "workflow_id": inside.workflow_id,
            "started_at": inside.started_at,
        },
    }


async def write_numbers(n: int) -> None:
    "use step"
    out = get_writable()
    for i in range(n):
        await out.write(i)
    await out.close()


async def numbers(n: int) -> int:
    "use workflow"
    await write_numbers(n)
    return n


async def write_open(n: int) -> None:
    "use step"
    out = get_writable("live")
    for i in range(n):
        await out.write(i)


async def write_last(value: int) -> None:
    "use step"
    out = get_writable("live")
    await out.write(value)
    await out.close()


async def keeps_stream_open(n: int, token: str) -> int:
    "use workflow"
    await write_open(n)
    hook = create_hook(token)
    await hook  # the stream stays open meanwhile
    await write_last(n)
    return n


async def note(text: str) -> str:
    "use step"
    return text


async def disposes(token: str) -> list[object]:
    "use workflow"
    hook = create_hook(token)
    first = await hook
    hook.dispose()  # the token is free again while the run goes on
    await note("disposed")
    again = create_hook(token)
    second = await again
    return [first, second]


async def dispose_and_recreate(token: str) -> list[object]:
    "use workflow"
    hook = create_hook(token)
    first = await hook
    hook.dispose()
    again = create_hook(token)  # the same token in the same commit as the disposal
    return [first, await again]


async def dispose_then_wait(token: str, other: str) -> list[object]:
    "use workflow"
    hook = create_hook(token)
    first = await hook
    hook.dispose()
    later = create_hook(other)
    return [first, await later]


async def webhook_with_token(token: str) -> list[object]:
    "use workflow"
    webhook = create_webhook(token=token)
    await note(webhook.url)
    request = await webhook
    return [webhook.token, request.method, request.json()]


async def holds_token(token: str) -> str:
    "use workflow"
    hook = create_hook(token)
    return str(await hook)


async def webhook_taken(token: str) -> str:
    "use workflow"
    webhook = create_webhook(token=token)
    try:
        await webhook
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}"
    return "delivered"
