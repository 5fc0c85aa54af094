"""Child process for test_api: drives a server only through `wdk.api` with
`configure(server_url=...)`, and prints what it saw as one JSON line."""

from __future__ import annotations

import asyncio
import json
import sys
from typing import Any

from wdk import HookNotFound, RunNotFound, WebhookRequest, WorkflowCancelled
from wdk.api import configure, get_run, resume_hook, resume_webhook, start


async def _token(run: Any) -> str:
    """A plain hook's token from its hook_created event; a webhook's from the
    URL the workflow gave its `announce` step (the API redacts webhook tokens)."""
    for _ in range(500):
        for ev in await run.events():
            if ev.type == "hook_created" and ev.payload["token"] != "[redacted]":
                return str(ev.payload["token"])
            if ev.type == "step_created" and ev.payload["step_id"].endswith("//announce"):
                return str(ev.payload["input"]["args"][0]).rsplit("/", 1)[1]
        await asyncio.sleep(0.01)
    raise AssertionError("no hook")


async def main(url: str) -> dict[str, Any]:
    from server_flows import adder

    configure(server_url=url)
    out: dict[str, Any] = {}
    run = await start(adder, 2, 3)
    out["result"] = await run.result(timeout=10)
    out["status"] = await run.status()
    out["events"] = [e.type for e in await run.events()]
    again = await start("server_flows:adder", 1, 1, idempotency_key="k1")
    same = await start("server_flows:adder", 1, 1, idempotency_key="k1")
    out["idempotent"] = again.id == same.id

    hooked = await start("flows.hooks:one_payload", "remote-token")
    await _token(hooked)
    await resume_hook("remote-token", {"x": (1, 2)})  # a tuple survives the trip
    out["hook_result"] = repr(await hooked.result(timeout=10))

    typed = await start("flows.hooks:typed", "typed-token")
    await _token(typed)
    try:
        await resume_hook("typed-token", {"approved": "not a bool"})
        out["typed_refused"] = False
    except ValueError as exc:
        out["typed_refused"] = "Approval" in str(exc)
    await resume_hook("typed-token", {"approved": True})
    out["typed_result"] = await typed.result(timeout=10)

    try:
        await resume_hook("no-such-token", 1)
    except HookNotFound as exc:
        out["hook_not_found"] = exc.token
    try:
        await get_run("wrun_nope").status()
    except RunNotFound as exc:
        out["run_not_found"] = exc.run_id

    streamed = await start("server_flows:chunks", 5, 2, 0)
    out["stream"] = [c["i"] async for c in streamed.stream()]
    out["stream_from_3"] = [c["i"] async for c in streamed.stream(start=3)]

    waiting = await start("flows.hooks:one_payload", "to-cancel")
    await _token(waiting)
    await waiting.cancel()
    out["cancelled_status"] = await waiting.status()
    try:
        await waiting.result(timeout=10)
    except WorkflowCancelled:
        out["cancelled_raises"] = True

    hook_run = await start("flows.webhooks:computed_response")
    token = await _token(hook_run)
    reply = await resume_webhook(token, WebhookRequest.make("POST", body={"n": 4}))
    out["webhook_reply"] = [reply.status, reply.json()]
    return out


if __name__ == "__main__":
    print(json.dumps(asyncio.run(main(sys.argv[1]))), flush=True)
