"""Child runs: `start()` and `Run.result()` called inside a workflow.

Both are recorded as steps of the parent (so they are durable and happen
once): starting is idempotent per parent step, and waiting for the result
is a step that polls the child's status. The steps use the runtime that runs
them (the parent's world), whatever client the process is configured with.
"""

from __future__ import annotations

from typing import Any

from wdk.errors import FatalError, WorkflowCancelled, WorkflowFailed
from wdk.runtime.engine import get_runtime
from wdk.runtime.metadata import get_step_metadata
from wdk.runtime.runs import outcome
from wdk.runtime.step_policy import step_options

START_CHILD = "step//wdk.runtime.children//start_child"
AWAIT_CHILD = "step//wdk.runtime.children//await_child"


class ChildRunFailed(WorkflowFailed, FatalError):
    """A child run failed or was cancelled: raised in the parent as WorkflowFailed, never retried."""

    def __init__(self, run_id: str, error_type: str, message: str, traceback_text: str = "") -> None:
        WorkflowFailed.__init__(self, run_id, error_type, message, traceback_text)
        # Constructor arguments, so the parent can rebuild this exact type.
        self.args = (run_id, error_type, message, traceback_text)

    def __str__(self) -> str:
        return f"run {self.run_id} failed: {self.error_type}: {self.message}"


class ChildArgumentsError(TypeError, FatalError):
    """A child's arguments do not fit its workflow's signature: a TypeError in
    the parent, and never retried (another attempt cannot fit them better)."""


async def start_child(workflow_id: str, args: list[Any], kwargs: dict[str, Any]) -> str:
    meta = get_step_metadata()
    rt = await get_runtime()
    try:
        # The same key on every attempt: a retried start returns the same child.
        return await rt.start_run(
            workflow_id,
            tuple(args),
            kwargs,
            idempotency_key=f"child:{meta.idempotency_key}",
            parent_run_id=meta.run_id,
        )
    except TypeError as exc:  # start_run checked the arguments against the child's signature
        raise ChildArgumentsError(str(exc)) from None


# Waiting survives restarts of the worker that waits: each restart is an attempt.
@step_options(max_retries=1000, retry_delay=1.0)
async def await_child(run_id: str) -> Any:
    rt = await get_runtime()
    try:
        return outcome(await rt.wait_terminal(run_id))
    except WorkflowCancelled as exc:
        raise ChildRunFailed(run_id, "WorkflowCancelled", str(exc)) from None
    except WorkflowFailed as exc:
        raise ChildRunFailed(run_id, exc.error_type, exc.message, exc.traceback_text) from None

