"""wdk: durable workflows for Python. Workflow-side API (see docs/)."""

from wdk.errors import (
    CompileError,
    FatalError,
    HookNotFound,
    NonDeterminismError,
    RetryableError,
    SerializationError,
    StepError,
    WorkflowCalledDirectly,
    WorkflowCancelled,
    WorkflowFailed,
    WorkflowSandboxError,
)

__all__ = [
    "CompileError",
    "FatalError",
    "HookNotFound",
    "NonDeterminismError",
    "RetryableError",
    "SerializationError",
    "StepError",
    "WorkflowCalledDirectly",
    "WorkflowCancelled",
    "WorkflowFailed",
    "WorkflowSandboxError",
]
