"""Running one attempt of a step, and deciding what its failure means.

A step is the user's real function (async, or sync on the step threads of
`step_threads`, where a timed-out call gives its slot back). Its policy
(retries, backoff, timeout) is read by `step_policy`.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import inspect
import os
import time
import types
from collections.abc import Callable
from typing import Any

import msgspec

from wdk.errors import FatalError, RetryableError, SerializationError
from wdk.runtime import serde
from wdk.runtime.current import running_step
from wdk.runtime.metadata import RunningStep as RunningStep  # the orchestrator builds them
from wdk.runtime.metadata import attempt_key as attempt_key
from wdk.runtime.step_policy import max_attempts, retry_delay, step_timeout
from wdk.runtime.step_threads import StepThreads
from wdk.runtime.streams import flush_step_writers
from wdk.settings import current_settings
from wdk.worlds.base import NewEvent


class Outcome(msgspec.Struct, frozen=True, gc=False):
    """The result of one attempt: exactly one of result / retry_at / error is meaningful.
    (A Struct: made once per attempt, it costs a fifth of a frozen dataclass. Not
    tracked by the garbage collector: it holds JSON-like data, which has no cycles.)"""

    kind: str  # "completed" | "retrying" | "failed"
    result: Any = None
    error: dict[str, Any] | None = None
    retry_at: float = 0.0

    def event(self, correlation_id: str, attempt: int, now: float) -> NewEvent:
        """The event that records this outcome of the step's attempt `attempt`."""
        if self.kind == "completed":
            return NewEvent("step_completed", now, correlation_id, {"result": self.result})
        if self.kind == "retrying":
            payload = {"attempt": attempt, "error": self.error or {}, "retry_at": self.retry_at}
            return NewEvent("step_retrying", now, correlation_id, payload)
        return NewEvent("step_failed", now, correlation_id, {"error": self.error or {}, "attempt": attempt})


_threads: StepThreads | None = None


def step_threads() -> StepThreads:
    """The process's sync-step threads: at most `step_threads` (WDK_STEP_THREADS;
    default cpus + 4, at most 32) plain-def steps run at once. The limit is
    read when the first plain step of the process runs."""
    global _threads
    # A forked child has none of its parent's threads: it starts its own.
    if _threads is None or _threads.pid != os.getpid():
        limit = current_settings().step_threads or min(32, (os.cpu_count() or 1) + 4)
        _threads = StepThreads(limit)
    return _threads


async def run_attempt(fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any], step: RunningStep) -> Outcome:
    """Run one attempt and classify it. Never raises except CancelledError.
    `step`: the attempt (its metadata, and the world its stream writers write to)."""
    token = running_step.set(step)
    try:
        # step_timeout(fn), inlined: None (no attribute) for most steps.
        timeout = getattr(fn, "timeout", None)
        if timeout is not None:
            timeout = step_timeout(fn)
        # _is_async, answered inline for a plain `async def` (most steps).
        if (type(fn) is types.FunctionType and fn.__code__.co_flags & inspect.CO_COROUTINE) or _is_async(fn):
            # Without a timeout, wait_for would only await it: one coroutine less.
            coro = fn(*args, **kwargs)
            result = await (coro if timeout is None else asyncio.wait_for(coro, timeout))
        else:
            ctx = contextvars.copy_context()
            call = functools.partial(ctx.run, fn, *args, **kwargs)
            result = await step_threads().run(call, timeout)
            if asyncio.iscoroutine(result):  # a plain def that returned a coroutine
                result = await asyncio.wait_for(result, timeout)
        # Chunks the step wrote are committed before its result is.
        if step.writers:
            await flush_step_writers(step.writers)
        try:
            encoded = serde.to_builtins(result, "result")
        except Exception as exc:  # an unserializable result cannot be retried away
            return Outcome("failed", error=serde.encode_error(_unstorable(step.metadata.step_id, exc)))
        return Outcome("completed", result=encoded)
    except asyncio.CancelledError:
        raise
    except BaseException as exc:
        if isinstance(exc, (KeyboardInterrupt, SystemExit)):
            raise
        meta = step.metadata
        if isinstance(exc, TimeoutError) and not isinstance(exc, RetryableError):
            exc = TimeoutError(f"step {meta.step_id} timed out after {getattr(fn, 'timeout', None)}")
        error = serde.encode_error(exc)
        error["attempt"] = meta.attempt
        if isinstance(exc, FatalError) or meta.attempt >= max_attempts(fn):
            return Outcome("failed", error=error)
        return Outcome("retrying", error=error, retry_at=time.time() + retry_delay(fn, meta.attempt, exc))
    finally:
        running_step.reset(token)


def _is_async(fn: Callable[..., Any]) -> bool:
    """inspect.iscoroutinefunction, answered at once for a plain `async def` (most steps)."""
    if type(fn) is types.FunctionType and fn.__code__.co_flags & inspect.CO_COROUTINE:
        return True
    return inspect.iscoroutinefunction(fn)


def _unstorable(step_id: str, exc: Exception) -> SerializationError:
    """The error for a result that cannot be recorded, naming the step: the path
    alone (`result['items'][3]`) does not say which of a workflow's steps it was."""
    named = SerializationError(f"step {step_id} returned a value wdk cannot store: {exc}")
    named.path = getattr(exc, "path", "")
    return named
