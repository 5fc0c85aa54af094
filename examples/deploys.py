"""A deploy that changes a workflow under runs in flight, step by step
(docs/deploys.md walks through it).

    python examples/deploys.py            # in a temporary folder; prints what happens

1. Version 1 of `approvals.py` is deployed; three runs wait for approval.
2. Version 2 swaps the arguments of an `asyncio.gather`: the runs' histories
   no longer replay. The deploy gate (`wdk replay --all`) says so, and a
   worker that runs version 2 anyway *blocks* them -- not failed: their
   webhooks still answer 202 and keep the approvals sent meanwhile.
3. Version 3 wraps the change in `if patched(...)`: the gate passes, the
   blocked runs resume by themselves and finish, and a new run takes the new
   branch.

"A worker restarts on new code" is played here by stopping this process's
runtime and starting a new one after rewriting the module: it replays every
live run from its log, as a restarted `wdk worker` would.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from wdk import WebhookRequest
from wdk.api import configure, get_run, resume_webhook, start
from wdk.runtime.engine import get_runtime, shutdown_runtime

V1 = '''
import asyncio
from wdk import create_webhook, patched


async def get_quote(n: int) -> int:
    "use step"
    return 100 * n


async def notify_team(n: int) -> str:
    "use step"
    return f"team told about #{n}"


async def approve(n: int) -> str:
    "use workflow"
    webhook = create_webhook()
    quote, note = await asyncio.gather(get_quote(n), notify_team(n))
    request = await webhook
    return f"#{n}: {quote} EUR, {note}, approved by {request.json()['by']}"
'''
GATHER = "quote, note = await asyncio.gather(get_quote(n), notify_team(n))"
V2 = V1.replace(GATHER, "note, quote = await asyncio.gather(notify_team(n), get_quote(n))")
V3 = V1.replace(
    f"    {GATHER}\n",
    '''    if patched("notify-first"):
        note, quote = await asyncio.gather(notify_team(n), get_quote(n))
    else:
        quote, note = await asyncio.gather(get_quote(n), notify_team(n))
''',
)


def deploy(folder: Path, source: str, version: str) -> None:
    path = folder / "approvals.py"
    path.write_text(source)
    stamp = path.stat().st_mtime_ns + 1_000_000_000  # a new mtime, even within the clock's tick
    os.utime(path, ns=(stamp, stamp))
    print(f"\n== deployed {version}")


def gate(folder: Path, data_dir: Path) -> int:
    """`wdk replay --all`: what CI runs before it deploys."""
    cmd = [sys.executable, "-m", "wdk", "replay", "--all", "--data-dir", str(data_dir), "--path", str(folder)]
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    lines = done.stdout.strip().splitlines()
    print(f"$ wdk replay --all   (exit {done.returncode})")
    for line in lines if len(lines) <= 5 else [*lines[:4], "  ...", lines[-1]]:
        print("  " + line)
    return done.returncode


async def restart_worker() -> None:
    await shutdown_runtime()
    await get_runtime()  # replays every live run against the code now on disk


async def statuses(ids: list[str]) -> list[str]:
    return [await get_run(r).status() for r in ids]


async def until(what: str, check: object) -> None:
    for _ in range(1000):
        if await check():  # type: ignore[operator]
            return
        await asyncio.sleep(0.02)
    raise SystemExit(f"timed out waiting for {what}")


async def webhook_tokens(ids: list[str]) -> list[str]:
    world = (await get_runtime()).world
    return [h.token for r in ids for h in await world.list_hooks(r) if h.status == "active"]


async def main(folder: Path) -> None:
    data_dir = folder / ".wdk"
    configure(data_dir=data_dir)
    sys.path.insert(0, str(folder))

    deploy(folder, V1, "version 1")
    ids = [(await start("workflow//approvals//approve", n)).id for n in (1, 2, 3)]

    async def all_waiting() -> bool:
        return len(await webhook_tokens(ids)) == 3

    await until("three runs waiting for approval", all_waiting)
    print(f"3 runs wait for approval: {await statuses(ids)}")
    tokens = await webhook_tokens(ids)
    await shutdown_runtime()  # the old workers stop for the deploy

    deploy(folder, V2, "version 2 (gather arguments swapped)")
    assert gate(folder, data_dir) == 1
    await restart_worker()  # deployed anyway

    async def all_blocked() -> bool:
        return await statuses(ids) == ["blocked"] * 3

    await until("the runs to be blocked", all_blocked)
    print(f"statuses: {await statuses(ids)}")
    blocked = [e for e in await get_run(ids[0]).events() if e.type == "run_blocked"][-1]
    divergence = blocked.payload["divergence"]
    print(f"why: history has {divergence['expected']}")
    print(f"     code called {divergence['actual']}")
    print(f"     at {Path(divergence['location']).name}")
    for token, who in zip(tokens, ("ana", "ben", "cy"), strict=True):
        reply = await resume_webhook(token, WebhookRequest.make("POST", body={"by": who}))
        print(f"approval by {who}: HTTP {reply.status}")
    await shutdown_runtime()

    deploy(folder, V3, "version 3 (the change behind patched('notify-first'))")
    assert gate(folder, data_dir) == 0
    await restart_worker()
    for run_id in ids:
        print("result:", await get_run(run_id).result(timeout=30))
    fresh = await start("workflow//approvals//approve", 4)

    async def fresh_waiting() -> bool:
        return len(await webhook_tokens([fresh.id])) == 1

    await until("the new run to wait", fresh_waiting)
    [token] = await webhook_tokens([fresh.id])
    await resume_webhook(token, WebhookRequest.make("POST", body={"by": "dee"}))
    print("result:", await fresh.result(timeout=30))
    steps = [e.payload["step_id"].rsplit("//", 1)[1] for e in await fresh.events() if e.type == "step_created"]
    print(f"the new run took the new branch: {steps}")
    await shutdown_runtime()


if __name__ == "__main__":
    with tempfile.TemporaryDirectory() as tmp:
        asyncio.run(main(Path(tmp)))
