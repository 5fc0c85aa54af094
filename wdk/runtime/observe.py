"""What the runtime reports as it works: metrics (`metrics`), spans
(`tracing`) and the log lines of notable things (`logs`), at the few points
where a run or a step attempt begins or ends.

The orchestrator and `runs` call these; each is a counter update and a
check that returns at once when tracing is off.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import time
from collections.abc import Iterator
from typing import Any

from wdk.runtime import metrics, tracing
from wdk.runtime.logs import ids
from wdk.runtime.metrics import short_name

__all__ = ["attempt_ended", "queue_latency", "run_created", "run_ended", "step_attempt"]

log = logging.getLogger("wdk")

_ENDED = {
    "run_completed": ("completed", metrics.RUNS_COMPLETED),
    "run_failed": ("failed", metrics.RUNS_FAILED),
    "run_cancelled": ("cancelled", metrics.RUNS_CANCELLED),
}


# A step's label, once per step id rather than once per attempt (bounded: ids name code).
_short_name = functools.lru_cache(maxsize=4096)(short_name)


def run_created(workflow_id: str) -> None:
    metrics.RUNS_STARTED.inc(_short_name(workflow_id))


def queue_latency(kind: str, due_at: float, now: float) -> None:
    """Work due at `due_at` (a new run's creation, a retry's time) began at `now`."""
    metrics.QUEUE_LATENCY.observe(max(0.0, now - due_at), kind)


def run_ended(
    run_id: str,
    workflow_id: str,
    created_payload: dict[str, Any],
    created_at: float,
    event_type: str,
    ended_at: float,
    error: dict[str, Any] | None = None,
) -> None:
    """This process recorded the run's end (`event_type`): count it, emit its
    span, and say so in the log when it failed."""
    status, counter = _ENDED[event_type]
    counter.inc(_short_name(workflow_id))
    if tracing.active():
        tracing.end_run(
            tracing.run_trace(run_id, created_payload), run_id, workflow_id, created_at, ended_at, status, error
        )
    if status == "failed":
        error = error or {}
        log.warning(
            "wdk: run %s (%s) failed: %s: %s",
            run_id, short_name(workflow_id), error.get("type", "Error"), error.get("message", ""),
            extra=ids("run_failed", run_id, workflow_id=workflow_id, error_type=error.get("type")),
        )


class Attempt:
    """One traced step attempt being run (see `step_attempt`); `done(outcome)` records it."""

    __slots__ = ("_attempt", "_began", "_run_id", "_span", "_step_id")

    def __init__(self, span: tracing.StepSpan | None, run_id: str, step_id: str, attempt: int) -> None:
        self._span = span
        self._run_id = run_id
        self._step_id = step_id
        self._attempt = attempt
        self._began = time.monotonic()

    def done(self, kind: str, error: dict[str, Any] | None, retry_at: float = 0.0) -> None:
        if self._span is not None:
            self._span.finish(kind, error)
        attempt_ended(self._run_id, self._step_id, self._attempt, self._began, kind, error, retry_at)


def attempt_ended(
    run_id: str, step_id: str, attempt: int, began: float, kind: str, error: dict[str, Any] | None, retry_at: float
) -> None:
    """A step attempt that began at `began` (monotonic) ended as `kind`: its
    metrics, and a log line when it will be retried. Untraced attempts (most)
    come here directly, with no `Attempt` made for them."""
    step = _short_name(step_id)
    metrics.STEP_DURATION.observe(time.monotonic() - began, step)
    metrics.STEP_ATTEMPTS.inc(step, kind)
    if kind == "retrying":
        metrics.STEP_RETRIES.inc(step)
        error = error or {}
        log.info(
            "wdk: step %s of run %s failed (attempt %d), retrying in %.3gs: %s: %s",
            step, run_id, attempt, max(0.0, retry_at - time.time()),
            error.get("type", "Error"), error.get("message", ""),
            extra=ids("step_retry", run_id, step_id=step_id, attempt=attempt, error_type=error.get("type")),
        )


@contextlib.contextmanager
def step_attempt(
    run_id: str, workflow_id: str, created_payload: dict[str, Any], step_id: str, correlation_id: str, attempt: int
) -> Iterator[Attempt]:
    """Around one traced attempt's body: its span (current while the body runs)
    and its metrics. (Untraced, the orchestrator calls `attempt_ended` alone.)"""
    run = tracing.run_trace(run_id, created_payload)
    with tracing.step_span(run, workflow_id, step_id, correlation_id, attempt, run_id) as span:
        yield Attempt(span, run_id, step_id, attempt)
