"""Workflow-side helpers that find their run through the running loop."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from wdk.errors import WorkflowSandboxError
from wdk.runtime.durations import wake_time


@dataclass(frozen=True)
class WorkflowMetadata:
    run_id: str
    workflow_id: str
    started_at: float


def _instance(what: str) -> Any:
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        loop = None
    inst = getattr(loop, "instance", None)
    if inst is None:
        raise WorkflowSandboxError(f"{what} can only be used inside a workflow run")
    return inst


async def sleep(duration: str | int | float | timedelta | datetime) -> None:
    """Durably sleep: "10s", "5m", "1h", "3d", seconds, a timedelta, or a
    datetime to wake at. No process is kept alive while a run sleeps."""
    inst = _instance("wdk.sleep()")
    delay = wake_time(duration, inst.loop.time()) - inst.loop.time()
    if delay > 0:
        await asyncio.sleep(delay)


def get_workflow_metadata() -> WorkflowMetadata:
    """The current run's id, workflow id and start time, in the workflow or
    in one of its steps."""
    from wdk.runtime.steps import _current

    loop = asyncio._get_running_loop()
    inst = getattr(loop, "instance", None)
    if inst is not None:
        return WorkflowMetadata(inst.run_id, inst.workflow_id, inst.started_at)
    step = _current.get()
    if step is None or not step.workflow_id:
        raise WorkflowSandboxError(
            "get_workflow_metadata() can only be used inside a workflow run or one of its steps"
        )
    return WorkflowMetadata(step.run_id, step.workflow_id, step.run_started_at)
