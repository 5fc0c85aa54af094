"""A step's retry and timeout policy, and reading it back when the step runs.

    @step_options(max_retries=5, retry_delay="2s", timeout="30s")
    async def charge(order_id: str) -> str:
        "use step"

is the typed spelling of the function attributes `charge.max_retries = 5`,
`charge.retry_delay = "2s"`, `charge.timeout = "30s"` (which keep working,
though `mypy --strict` refuses to set attributes on a function). The
decorator checks the values when the module loads, and `wdk build` checks the
literal ones before that (wdk.compiler.step_options).

- `max_retries`: retries after the first attempt (default 3: at most 4 attempts);
- `retry_delay`: base of the exponential backoff (default 1 s: 1, 2, 4 ... capped at 5 min);
- `timeout`: an attempt that takes longer is cancelled and counts as failed.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from wdk.durations import Duration, parse_duration
from wdk.errors import RetryableError
from wdk.runtime.flow_control import Concurrency, RateLimit, declared

__all__ = [
    "DEFAULT_MAX_RETRIES",
    "DEFAULT_RETRY_DELAY",
    "MAX_RETRY_DELAY",
    "POLICY",
    "max_attempts",
    "retry_delay",
    "step_options",
    "step_timeout",
]

DEFAULT_MAX_RETRIES = 3
DEFAULT_RETRY_DELAY = 1.0
MAX_RETRY_DELAY = 300.0

POLICY = ("max_retries", "retry_delay", "timeout")  # the retry attributes (flow control: flow_control.py)

F = TypeVar("F", bound=Callable[..., Any])


def step_options(
    *,
    max_retries: int | None = None,
    retry_delay: Duration | None = None,
    timeout: Duration | None = None,
    concurrency: Concurrency | Sequence[Concurrency] | None = None,
    rate_limit: RateLimit | Sequence[RateLimit] | None = None,
) -> Callable[[F], F]:
    """Set a step's policy; the function itself is returned, unchanged otherwise.

        @step_options(max_retries=5, timeout="30s")
        async def charge(order_id: str) -> str:
            "use step"

    Above or below other decorators (and `@staticmethod` / `@classmethod`).
    A value that is not one (`max_retries=-1`, `timeout="30x"`) raises here.
    `concurrency` / `rate_limit` (wdk.Concurrency, wdk.RateLimit) are the
    flow-control attributes (docs/flow-control.md); they work on workflows too.
    """
    if max_retries is not None and (
        isinstance(max_retries, bool) or not isinstance(max_retries, int) or max_retries < 0
    ):
        raise ValueError(f"step_options(max_retries=...) must be an int >= 0, not {max_retries!r}")
    for name, value in (("retry_delay", retry_delay), ("timeout", timeout)):
        if value is not None:
            try:
                parse_duration(value)
            except (TypeError, ValueError) as exc:
                raise ValueError(f"step_options({name}=...): {exc}") from None
    chosen: dict[str, Any] = {
        "max_retries": max_retries, "retry_delay": retry_delay, "timeout": timeout,
        "concurrency": concurrency, "rate_limit": rate_limit,
    }

    class _Check:
        pass

    probe = _Check()
    probe.concurrency = concurrency  # type: ignore[attr-defined]
    probe.rate_limit = rate_limit  # type: ignore[attr-defined]
    try:
        declared(probe)
    except TypeError as exc:
        raise ValueError(f"step_options: {exc}") from None

    def apply(fn: F) -> F:
        # A staticmethod/classmethod object: its function is what the runtime calls.
        target = fn.__func__ if isinstance(fn, staticmethod | classmethod) else fn
        for name, value in chosen.items():
            if value is not None:
                setattr(target, name, value)
        return fn

    return apply


def _seconds(fn: Any, name: str, default: float | None) -> float | None:
    value = getattr(fn, name, None)
    return default if value is None else parse_duration(value)


def step_timeout(fn: Any) -> float | None:
    """Seconds one attempt may take; None: no limit."""
    return _seconds(fn, "timeout", None)


def retry_delay(fn: Any, attempt: int, exc: BaseException) -> float:
    """Delay before the next attempt: RetryableError.retry_after, else exponential backoff."""
    if isinstance(exc, RetryableError) and exc.retry_after is not None:
        return parse_duration(exc.retry_after)  # type: ignore[arg-type]
    base = _seconds(fn, "retry_delay", DEFAULT_RETRY_DELAY) or 0.0
    return float(min(MAX_RETRY_DELAY, base * (2 ** max(0, attempt - 1))))


def max_attempts(fn: Any) -> int:
    retries = getattr(fn, "max_retries", None)
    return 1 + (DEFAULT_MAX_RETRIES if retries is None else max(0, int(retries)))
