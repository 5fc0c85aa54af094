"""OpenTelemetry traces (`pip install wdk[otel]`): a span per run and a child
span per step attempt.

A run outlives the process that starts it (sleeps, crashes, other workers), so
no span object can stay open from start to end. Instead `start()` chooses the
run span's ids and records them in `run_created` (`"trace"`: trace id, span
id, the caller's span as parent). Every step attempt's span, in whichever
process runs it, is a child of that recorded span id, and the process that
records the run's end emits the run span itself, backdated to `run_created`,
under the recorded ids. A run started without a trace context gets ids
derived from its run id, which every process derives alike.

Only work that happens is traced: a replay runs no step and records no end,
so it makes no span. Without opentelemetry installed, with WDK_OTEL=0, or
with no SDK tracer provider set, every function here returns at its first
check.
"""

from __future__ import annotations

import contextlib
import contextvars
import hashlib
import os
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from wdk.runtime.metrics import short_name

__all__ = [
    "RunTrace",
    "StepSpan",
    "active",
    "enable",
    "end_run",
    "incoming_traceparent",
    "new_run_trace",
    "run_trace",
    "step_span",
    "traceparent",
    "use_provider",
]

_enabled = True  # WDK_OTEL (Runtime sets it from its settings)
_otel: Any = None  # the opentelemetry.trace module once imported; False when missing
_provider: Any = None  # use_provider()'s, over the global one
# While no global provider is set, look again at most this often: a program
# that sets one after wdk started is traced from then on.
RECHECK_SECONDS = 1.0
_recheck_at = 0.0
_tracer_for: tuple[Any, Any] = (None, None)  # (provider, wdk's tracer from it, or None)
# The ids the next span wdk starts must carry (see _ChosenIds).
_chosen: contextvars.ContextVar[tuple[int, int] | None] = contextvars.ContextVar("wdk_chosen_ids", default=None)
# A W3C traceparent a server took from the request that starts a run.
_incoming: contextvars.ContextVar[str | None] = contextvars.ContextVar("wdk_traceparent", default=None)

_TRACEPARENT = re.compile(r"^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?$")


@dataclass(frozen=True)
class RunTrace:
    """The run span's identity, as `run_created` records it."""

    trace_id: int
    span_id: int
    parent_id: int | None  # the span that called start(), if any
    sampled: bool

    def as_payload(self) -> dict[str, Any]:
        return {
            "trace_id": f"{self.trace_id:032x}",
            "span_id": f"{self.span_id:016x}",
            "parent_id": None if self.parent_id is None else f"{self.parent_id:016x}",
            "sampled": self.sampled,
        }


def enable(on: bool) -> None:
    """WDK_OTEL: False keeps wdk from tracing even with opentelemetry set up."""
    global _enabled
    _enabled = on


def _trace_api() -> Any:
    global _otel
    if _otel is None:
        try:
            from opentelemetry import trace
        except ImportError:
            _otel = False
        else:
            _otel = trace
    return _otel or None


def active() -> bool:
    """Whether spans made now would be recorded somewhere."""
    # Asked once per step attempt: `_tracer`'s "no provider a moment ago"
    # answer, without its two calls.
    if _provider is None and _tracer_for[1] is None and _otel is not None and time.monotonic() < _recheck_at:
        return False
    return _tracer() is not None


def use_provider(provider: Any) -> None:
    """Trace with `provider` rather than OpenTelemetry's global one (None:
    the global one again), for a program or test that keeps its own."""
    global _provider, _recheck_at
    _provider = provider
    _recheck_at = 0.0


def _tracer() -> Any:
    """wdk's tracer, or None when nothing would record its spans."""
    global _tracer_for
    if not _enabled:
        return None
    trace = _trace_api()
    if trace is None:
        return None
    if _provider is None and _tracer_for[1] is None and time.monotonic() < _recheck_at:
        return None  # no global provider a moment ago (asking OTel costs an environ lookup)
    provider = _provider if _provider is not None else trace.get_tracer_provider()
    if provider is _tracer_for[0]:
        _recheck_later()
        return _tracer_for[1]
    tracer = None
    if not isinstance(provider, (trace.ProxyTracerProvider, trace.NoOpTracerProvider)):
        tracer = provider.get_tracer("wdk")
        inner = getattr(tracer, "id_generator", None)
        if inner is not None:  # the SDK's tracer: it can emit a span under recorded ids
            tracer.id_generator = _ChosenIds(inner)
    _tracer_for = (provider, tracer)
    _recheck_later()
    return tracer


def _recheck_later() -> None:
    global _recheck_at
    _recheck_at = time.monotonic() + RECHECK_SECONDS


class _ChosenIds:
    """The id generator of wdk's own SDK tracer: the ids in `_chosen` when set
    (a run span emitted at the run's end under the ids `start()` recorded),
    else the SDK's random ones."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner

    def generate_trace_id(self) -> int:
        chosen = _chosen.get()
        return chosen[0] if chosen else int(self._inner.generate_trace_id())

    def generate_span_id(self) -> int:
        chosen = _chosen.get()
        return chosen[1] if chosen else int(self._inner.generate_span_id())

    def is_trace_id_random(self) -> bool:
        return bool(getattr(self._inner, "is_trace_id_random", lambda: True)())


# --- the caller's context ----------------------------------------------------------------


def traceparent() -> str | None:
    """The current span as a W3C `traceparent` header (for a request that
    starts a run in another process), or None without one."""
    trace = _trace_api() if _enabled else None
    if trace is None:
        return _incoming.get()
    ctx = trace.get_current_span().get_span_context()
    if not ctx.is_valid:
        return _incoming.get()
    return f"00-{ctx.trace_id:032x}-{ctx.span_id:016x}-{int(ctx.trace_flags):02x}"


@contextlib.contextmanager
def incoming_traceparent(header: str | None) -> Iterator[None]:
    """Runs started inside this block are children of `header` (a request's
    `traceparent`), whether or not this process traces."""
    if not header:
        yield
        return
    token = _incoming.set(header.strip().lower())
    try:
        yield
    finally:
        _incoming.reset(token)


def _parse(header: str) -> tuple[int, int, bool] | None:
    match = _TRACEPARENT.match(header)
    if match is None or match.group(1) == "ff":
        return None
    trace_id, span_id = int(match.group(2), 16), int(match.group(3), 16)
    if not trace_id or not span_id:
        return None
    return trace_id, span_id, bool(int(match.group(4), 16) & 1)


def new_run_trace() -> dict[str, Any] | None:
    """The `"trace"` of a new run's `run_created`: fresh ids under the
    caller's current span when this process traces, else under the request's
    traceparent (`wdk serve`). None when neither applies (the run's ids then
    come from its run id)."""
    header = _incoming.get()
    tracer = _tracer()
    if tracer is None and header is None:
        return None  # the common case without tracing: nothing to record, nothing to look up
    parent: tuple[int, int, bool] | None = None
    if tracer is not None:
        ctx = _trace_api().get_current_span().get_span_context()
        if ctx.is_valid:
            parent = (ctx.trace_id, ctx.span_id, bool(ctx.trace_flags.sampled))
    if parent is None and header:
        parent = _parse(header)
    if parent is None:
        if tracer is None:
            return None
        return RunTrace(_random(16), _random(8), None, True).as_payload()
    return RunTrace(parent[0], _random(8), parent[1], parent[2]).as_payload()


def _random(size: int) -> int:
    return int.from_bytes(os.urandom(size), "big") or 1


def run_trace(run_id: str, created_payload: dict[str, Any]) -> RunTrace:
    """The run span's ids: as recorded in `run_created`, else from the run id."""
    recorded = created_payload.get("trace")
    if isinstance(recorded, dict):
        try:
            parent = recorded.get("parent_id")
            return RunTrace(
                int(recorded["trace_id"], 16),
                int(recorded["span_id"], 16),
                int(parent, 16) if parent else None,
                bool(recorded.get("sampled", True)),
            )
        except (KeyError, TypeError, ValueError):
            pass
    digest = hashlib.blake2b(run_id.encode(), digest_size=24).digest()
    return RunTrace(int.from_bytes(digest[:16], "big") or 1, int.from_bytes(digest[16:], "big") or 1, None, True)


# --- spans ---------------------------------------------------------------------------------


def _context_of(trace: Any, trace_id: int, span_id: int, sampled: bool) -> Any:
    """An OTel context whose current span is the remote span (trace_id, span_id)."""
    flags = trace.TraceFlags(trace.TraceFlags.SAMPLED if sampled else trace.TraceFlags.DEFAULT)
    span_context = trace.SpanContext(trace_id, span_id, is_remote=True, trace_flags=flags)
    return trace.set_span_in_context(trace.NonRecordingSpan(span_context))


class StepSpan:
    """A step attempt's span while its body runs (current, so instrumented
    HTTP clients nest under it); `finish(outcome)` ends it."""

    def __init__(self, span: Any) -> None:
        self._span = span
        self.finished = False

    def finish(self, kind: str, error: dict[str, Any] | None) -> None:
        self.finished = True
        trace = _trace_api()
        self._span.set_attribute("wdk.outcome", kind)
        if kind != "completed":
            message = f"{error.get('type', 'Error')}: {error.get('message', '')}" if error else kind
            self._span.set_status(trace.Status(trace.StatusCode.ERROR, message))
        self._span.end()


@contextlib.contextmanager
def step_span(
    run: RunTrace, workflow_id: str, step_id: str, correlation_id: str, attempt: int, run_id: str
) -> Iterator[StepSpan | None]:
    """A child span of the run for one step attempt (None when not tracing)."""
    tracer = _tracer()
    if tracer is None:
        yield None
        return
    trace = _trace_api()
    from opentelemetry import context as otel_context

    span = tracer.start_span(
        f"step {short_name(step_id)}",
        context=_context_of(trace, run.trace_id, run.span_id, run.sampled),
        attributes={
            "wdk.run_id": run_id,
            "wdk.workflow_id": workflow_id,
            "wdk.step_id": step_id,
            "wdk.correlation_id": correlation_id,
            "wdk.attempt": attempt,
        },
    )
    token = otel_context.attach(trace.set_span_in_context(span))
    handle = StepSpan(span)
    try:
        yield handle
    finally:
        otel_context.detach(token)
        if not handle.finished:  # cancelled (the run was, or this worker stops)
            handle.finish("cancelled", None)


def end_run(
    run: RunTrace, run_id: str, workflow_id: str, started_at: float, ended_at: float, status: str,
    error: dict[str, Any] | None = None,
) -> None:
    """Emit the run's span, from `run_created` to its end, under its recorded ids."""
    tracer = _tracer()
    if tracer is None:
        return
    trace = _trace_api()
    parent = None
    if run.parent_id is not None:
        parent = _context_of(trace, run.trace_id, run.parent_id, run.sampled)
    else:
        from opentelemetry import context as otel_context

        parent = otel_context.Context()  # a root: not under whatever is current here
    token = _chosen.set((run.trace_id, run.span_id))
    try:
        span = tracer.start_span(
            f"run {short_name(workflow_id)}",
            context=parent,
            start_time=int(started_at * 1e9),
            attributes={"wdk.run_id": run_id, "wdk.workflow_id": workflow_id, "wdk.status": status},
        )
    finally:
        _chosen.reset(token)
    if status != "completed":
        message = f"{error.get('type', 'Error')}: {error.get('message', '')}" if error else status
        span.set_status(trace.Status(trace.StatusCode.ERROR, message))
    span.end(end_time=int(ended_at * 1e9))
