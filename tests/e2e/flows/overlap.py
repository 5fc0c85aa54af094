"""Workflows whose steps are still running when something else reaches the run.

Each step execution appends a line to a ledger file and then waits for a gate
file the test creates: the test decides when a step finishes, and the ledger
says how many times each step ran.
"""

from __future__ import annotations

import asyncio
import os

from wdk import create_hook, create_webhook, sleep
from wdk.api import start


async def gated(ledger: str, gate: str, name: str) -> str:
    "use step"
    with open(ledger, "a") as f:
        f.write(f"{name}\n")
    while not os.path.exists(gate):
        await asyncio.sleep(0.005)
    return name


async def on_hook(ledger: str, gate: str, token: str, parallel: bool) -> list[str]:
    "use workflow"
    done: list[str] = []
    async for payload in create_hook(token):
        if parallel:
            done += await asyncio.gather(
                gated(ledger, gate, f"{payload}-a"), gated(ledger, gate, f"{payload}-b")
            )
        else:
            done.append(await gated(ledger, gate, str(payload)))
        if len(done) >= (4 if parallel else 2):
            return done
    return done


async def on_webhook(ledger: str, gate: str, parallel: bool) -> list[str]:
    "use workflow"
    hook = create_webhook()
    work = [gated(ledger, gate, "a")]
    if parallel:
        work.append(gated(ledger, gate, "b"))
    results = asyncio.gather(*work)
    request = await hook
    return [*(await results), request.text()]


async def announce(token: str) -> str:
    "use step"
    return token


async def with_wait(ledger: str, gate: str, parallel: bool) -> list[str]:
    "use workflow"
    work = [gated(ledger, gate, "a")]
    if parallel:
        work.append(gated(ledger, gate, "b"))
    results, _ = await asyncio.gather(asyncio.gather(*work), sleep(0.05))
    return list(results)


async def child() -> str:
    "use workflow"
    return await announce("child")


async def with_child(ledger: str, gate: str, parallel: bool) -> list[str]:
    "use workflow"
    run = await start(child)
    work = [gated(ledger, gate, "a")]
    if parallel:
        work.append(gated(ledger, gate, "b"))
    results, from_child = await asyncio.gather(asyncio.gather(*work), run.result())
    return [*results, from_child]


async def plain(ledger: str, gate: str, parallel: bool) -> list[str]:
    "use workflow"
    work = [gated(ledger, gate, "a")]
    if parallel:
        work.append(gated(ledger, gate, "b"))
    return list(await asyncio.gather(*work))
