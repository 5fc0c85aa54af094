"""Every exception wdk raises. All are re-exported from `wdk`."""

from __future__ import annotations

from dataclasses import dataclass


class WdkError(Exception):
    """Base class of wdk's own errors."""


# --- raised by user code inside steps -------------------------------------


class FatalError(Exception):
    """Raise from a step to fail it at once, with no retry."""


class RetryableError(Exception):
    """Raise from a step to retry it after `retry_after` (e.g. "10s", 10, timedelta)."""

    def __init__(self, message: str = "", retry_after: object = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class StepError(WdkError):
    """A step's final error when its original exception type cannot be rebuilt."""

    def __init__(self, type_name: str, message: str, traceback_text: str = "") -> None:
        super().__init__(f"{type_name}: {message}")
        self.type_name = type_name
        self.message = message
        self.traceback_text = traceback_text


class StreamClosedError(WdkError, FatalError):
    """A write to a stream that is closed (by a writer's `close()`, or because
    its run ended). A FatalError: retrying the step would fail the same way."""

    def __init__(self, message: str, run_id: str = "", namespace: str = "") -> None:
        super().__init__(message)
        self.run_id = run_id
        self.namespace = namespace

    @classmethod
    def of(cls, run_id: str, namespace: str, why: str = "is closed") -> StreamClosedError:
        return cls(f"stream {namespace!r} of run {run_id} {why}: it cannot be written to", run_id, namespace)


# --- client side ------------------------------------------------------------


class WorkflowFailed(WdkError):
    """`Run.result()` of a run that ended `failed`."""

    def __init__(self, run_id: str, error_type: str, message: str, traceback_text: str = "") -> None:
        super().__init__(f"run {run_id} failed: {error_type}: {message}")
        self.run_id = run_id
        self.error_type = error_type
        self.message = message
        self.traceback_text = traceback_text


class WorkflowCancelled(WdkError):
    """`Run.result()` of a run that ended `cancelled`."""

    def __init__(self, run_id: str) -> None:
        super().__init__(f"run {run_id} was cancelled")
        self.run_id = run_id


class WorkflowCalledDirectly(WdkError):
    """A workflow function was called like a plain function instead of through `start()`."""

    def __init__(self, workflow_id: str) -> None:
        super().__init__(
            f"{workflow_id} is a workflow: it cannot be called directly. "
            "Use `await wdk.api.start(fn, *args)` to start a durable run."
        )
        self.workflow_id = workflow_id


class RunNotFound(WdkError, LookupError):
    """No run with this id exists in the configured world."""

    def __init__(self, run_id: str) -> None:
        super().__init__(f"no run with id {run_id!r}")
        self.run_id = run_id


class WorkflowNotFound(WdkError, LookupError):
    """An id names no workflow or step in the code this process can load."""


class HookNotFound(WdkError, LookupError):
    """No live hook has this token (unknown, or disposed when its run ended)."""

    def __init__(self, token: str) -> None:
        super().__init__(f"no live hook with token {token!r}")
        self.token = token


# --- workflow side ------------------------------------------------------------


class WorkflowSandboxError(WdkError):
    """Workflow code did something that is not deterministic (I/O, real time, threads...)."""


class NonDeterminismError(WdkError):
    """Replaying a run's history against the current code found a different call."""

    def __init__(self, message: str, *, expected: str = "", actual: str = "", location: str = "") -> None:
        detail = message
        if expected or actual:
            detail += f"\n  history has: {expected or '(nothing)'}\n  code called: {actual or '(nothing)'}"
        if location:
            detail += f"\n  at {location}"
        super().__init__(detail)
        self.summary = message  # the first line, without expected / actual / location
        self.expected = expected
        self.actual = actual
        self.location = location


class SerializationError(WdkError, TypeError):
    """A value cannot be serialized; `path` says where it sits (e.g. args[1]['items'][3])."""

    def __init__(self, message: str, path: str = "") -> None:
        super().__init__(f"{message} (at {path})" if path else message)
        self.path = path


class WorldError(WdkError):
    """The store behind the world is unusable (corrupt, foreign, unwritable, unreachable)."""


class WorldUnavailable(WorldError):
    """The store cannot be reached now (refused, dropped, starting up): trying
    again later may work, unlike a store that is corrupt or unwritable."""


class WorkerIdTaken(WorldError):
    """Another live worker holds this worker id (`wdk worker --id`): two workers
    with one id would release each other's runs as a dead predecessor's."""


class ConflictError(WorldError):
    """An append's expected sequence number did not match: another writer got there first."""


class DuplicateCompletion(ConflictError):
    """A second completion for one (run, correlation id) was refused by the store."""


class HookConflict(WorldError):
    """A hook token is already held by a live hook."""

    def __init__(self, token: str) -> None:
        super().__init__(f"hook token {token!r} is already in use by a live hook")
        self.token = token


# --- compiler -------------------------------------------------------------------


@dataclass(frozen=True)
class Diagnostic:
    """One located compile error."""

    path: str
    line: int
    column: int
    message: str
    hint: str = ""
    source_line: str = ""

    def format(self) -> str:
        text = f"{self.path}:{self.line}:{self.column}: error: {self.message}"
        if self.hint:
            text += f" (hint: {self.hint})"
        return text


class CompileError(WdkError):
    """A source file cannot be compiled; `diagnostics` lists every error found in it."""

    def __init__(self, diagnostics: list[Diagnostic]) -> None:
        self.diagnostics = list(diagnostics)
        super().__init__("\n".join(d.format() for d in self.diagnostics) or "compile error")
