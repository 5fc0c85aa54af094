"""What a run and a step know about themselves.

    get_workflow_metadata()   # .run_id, .workflow_id, .started_at: in a workflow or its steps
    get_step_metadata()       # .step_id, .attempt, .idempotency_key ...: in a step
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import msgspec

from wdk.errors import WorkflowSandboxError
from wdk.runtime.current import current_instance, current_step

if TYPE_CHECKING:
    from wdk.worlds.base import World

__all__ = ["RunningStep", "StepMetadata", "WorkflowMetadata", "attempt_key", "get_step_metadata", "get_workflow_metadata"]


@dataclass(frozen=True)
class WorkflowMetadata:
    """What a run knows about itself (`wdk.get_workflow_metadata()`)."""

    run_id: str
    workflow_id: str
    started_at: float


@dataclass(frozen=True, init=False)
class StepMetadata:
    """What a running step knows about itself (`wdk.get_step_metadata()`)."""

    step_id: str
    correlation_id: str
    attempt: int  # 1 for the first attempt
    started_at: float
    run_id: str
    # Restarts of this attempt after its worker died (they do not use up retries).
    recovery: int = 0
    # The run's workflow (what `get_workflow_metadata()` answers inside a step).
    workflow_id: str = ""
    run_started_at: float = 0.0

    def __init__(
        self,
        step_id: str,
        correlation_id: str,
        attempt: int,
        started_at: float,
        run_id: str,
        recovery: int = 0,
        workflow_id: str = "",
        run_started_at: float = 0.0,
    ) -> None:
        # The generated __init__ of a frozen dataclass sets each field through
        # object.__setattr__: twice the cost, once per step attempt. Same fields.
        fields = self.__dict__
        fields["step_id"] = step_id
        fields["correlation_id"] = correlation_id
        fields["attempt"] = attempt
        fields["started_at"] = started_at
        fields["run_id"] = run_id
        fields["recovery"] = recovery
        fields["workflow_id"] = workflow_id
        fields["run_started_at"] = run_started_at

    @property
    def attempt_key(self) -> str:
        """Names this one execution of the step (attempt and recovery): what a
        stream chunk written by it is tagged with, so it can be rolled back."""
        return attempt_key(self.correlation_id, self.attempt, self.recovery)

    @property
    def idempotency_key(self) -> str:
        """Stable across attempts and unique per step call: safe to pass to a payment API."""
        return f"{self.run_id}:{self.correlation_id}"


class RunningStep(msgspec.Struct):
    """One attempt of a step while it runs (`current.running_step`): its
    metadata, made the first time it is asked for (most steps never ask: a
    frozen dataclass costs more to make than the rest of this), the world its
    stream writers write to, and what they have not committed yet. (A Struct:
    made in C, with no __init__ frame: one per step attempt.)"""

    _fields: tuple[str, str, int, float, str, int, str, float]  # StepMetadata's, in order
    world: World | None
    _metadata: StepMetadata | None = None
    writers: list[Any] = msgspec.field(default_factory=list)  # streams._Pending, one per stream written

    @property
    def metadata(self) -> StepMetadata:
        if self._metadata is None:
            self._metadata = StepMetadata(*self._fields)
        return self._metadata


def attempt_key(correlation_id: str, attempt: int, recovery: int = 0) -> str:
    """`StepMetadata.attempt_key` of an execution, from the numbers the log keeps."""
    return f"{correlation_id}#{attempt}.{recovery}"


def get_step_metadata() -> StepMetadata:
    """The running step's metadata. Raises RuntimeError outside a step."""
    meta = current_step()
    if meta is None:
        raise RuntimeError("get_step_metadata() can only be called while a step is running")
    return meta


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
