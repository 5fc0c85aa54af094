"""Human approval: the workflow waits for a typed decision or a deadline."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from wdk import define_hook, sleep


@dataclass
class Decision:
    approved: bool
    reviewer: str = ""


DecisionHook = define_hook(Decision)


async def request_review(doc_id: str, token: str) -> str:
    "use step"
    return f"review of {doc_id} requested: resume hook {token}"


async def publish(doc_id: str, reviewer: str) -> str:
    "use step"
    return f"{doc_id} published (approved by {reviewer})"


async def approve_document(doc_id: str, deadline: float) -> str:
    "use workflow"
    hook = DecisionHook.create(token=f"approve:{doc_id}")
    await request_review(doc_id, hook.token)
    decision_task = asyncio.ensure_future(hook)  # type: ignore[arg-type]
    timer = asyncio.ensure_future(sleep(deadline))
    done, _ = await asyncio.wait({decision_task, timer}, return_when=asyncio.FIRST_COMPLETED)
    if decision_task not in done:
        return f"{doc_id}: no decision in time"
    decision: Decision = decision_task.result()
    if not decision.approved:
        return f"{doc_id} rejected by {decision.reviewer}"
    return await publish(doc_id, decision.reviewer)
