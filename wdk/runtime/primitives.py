"""Workflow-side helpers that find their run through the running loop."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime, timedelta

from wdk.errors import WorkflowSandboxError
from wdk.runtime.current import current_instance, current_step, require_instance
from wdk.runtime.durations import wake_time


@dataclass(frozen=True)
class WorkflowMetadata:
    run_id: str
    workflow_id: str
    started_at: float


async def sleep(duration: str | int | float | timedelta | datetime) -> None:
    """Durably sleep: "10s", "5m", "1h", "3d", seconds, a timedelta, or a
    datetime to wake at. No process is kept alive while a run sleeps."""
    inst = require_instance("wdk.sleep()")
    delay = wake_time(duration, inst.loop.time()) - inst.loop.time()
    if delay > 0:
        await asyncio.sleep(delay)


def get_workflow_metadata() -> WorkflowMetadata:
    """The current run's id, workflow id and start time, in the workflow or
    in one of its steps."""
    inst = current_instance()
    if inst is not None:
        return WorkflowMetadata(inst.run_id, inst.workflow_id, inst.started_at)
    step = current_step()
    if step is None or not step.workflow_id:
        raise WorkflowSandboxError(
            "get_workflow_metadata() can only be used inside a workflow run or one of its steps"
        )
    return WorkflowMetadata(step.run_id, step.workflow_id, step.run_started_at)
