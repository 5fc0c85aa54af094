"""wdk's log lines: one per notable thing, with the run and step it is about.

Everything logs to the `wdk` logger with `extra={"run_id": ..., "step_id":
...}` (see `ids()`), so a JSON line carries them as fields:

    WDK_LOG_FORMAT=json wdk worker
    {"time": "2026-11-30T18:02:11.204Z", "level": "WARNING", "logger": "wdk",
     "message": "step shop:charge failed (attempt 1), retrying in 1s: ...",
     "event": "step_retry", "run_id": "wrun_...", "step_id": "step//shop//charge", "attempt": 1}

`RepeatFilter` (on the `wdk` logger from the first runtime on) lets the same
message about the same run through once per REPEAT_SECONDS and counts what
it held back: a store that is away, or a run that fails to advance every
second, gives a line (and a traceback) a minute, not one a second.
"""

from __future__ import annotations

import datetime
import json
import logging
import sys
import threading
import time
from typing import Any

__all__ = ["JsonFormatter", "RepeatFilter", "ids", "install", "setup_logging"]

REPEAT_SECONDS = 60.0
# The fields a JSON line takes from a record's `extra`.
FIELDS = ("event", "run_id", "step_id", "workflow_id", "attempt", "worker", "error_type")

log = logging.getLogger("wdk")


def ids(event: str, run_id: str | None = None, **more: Any) -> dict[str, Any]:
    """The `extra` of a notable line: `log.warning(..., extra=ids("step_retry", run_id, step_id=...))`."""
    return {"event": event, "run_id": run_id, **more}


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, the ids, and the
    traceback (as one string field) when there is one."""

    def format(self, record: logging.LogRecord) -> str:
        at = datetime.datetime.fromtimestamp(record.created, datetime.UTC)
        line: dict[str, Any] = {
            "time": at.strftime("%Y-%m-%dT%H:%M:%S.") + f"{at.microsecond // 1000:03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for name in FIELDS:
            value = getattr(record, name, None)
            if value is not None:
                line[name] = value
        suppressed = getattr(record, "suppressed", None)
        if suppressed:
            line["suppressed"] = suppressed
        if record.exc_info:
            line["traceback"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str)


class RepeatFilter(logging.Filter):
    """Lets one (message template, run) through per `every` seconds; the next
    one that passes says how many were held back (`suppressed`)."""

    def __init__(self, every: float = REPEAT_SECONDS) -> None:
        super().__init__("wdk")
        self.every = every
        self._last: dict[tuple[str, Any], tuple[float, int]] = {}
        self._lock = threading.Lock()  # the lease thread logs too

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno < logging.WARNING:
            return True
        key = (str(record.msg), getattr(record, "run_id", None) or _first_arg(record))
        now = time.monotonic()
        with self._lock:
            last = self._last.get(key)
            if last is not None and now - last[0] < self.every:
                self._last[key] = (last[0], last[1] + 1)
                return False
            held = last[1] if last is not None else 0
            self._last[key] = (now, 0)
            if len(self._last) > 10_000:  # forget the oldest half: bounded memory
                for stale in sorted(self._last, key=lambda k: self._last[k][0])[:5000]:
                    del self._last[stale]
        if held:
            record.suppressed = held
            record.msg = f"{record.msg} (and {held} more like it in the last {self.every:g}s)"
        return True


def _first_arg(record: logging.LogRecord) -> Any:
    args = record.args
    if isinstance(args, tuple) and args:
        return str(args[0])
    return None


_installed: RepeatFilter | None = None


def install() -> None:
    """Put the RepeatFilter on the `wdk` logger (once)."""
    global _installed
    if _installed is None:
        _installed = RepeatFilter()
        log.addFilter(_installed)


def setup_logging(fmt: str | None, level: int = logging.INFO) -> None:
    """For wdk's own commands (`wdk serve`, `wdk worker`): with
    WDK_LOG_FORMAT=json, `wdk` log lines from `level` up go to stderr as JSON.
    As text, Python's default stays (warnings and errors, message only). A
    program that configured `logging` itself keeps its own handlers."""
    install()
    if (fmt or "text").lower() != "json" or log.handlers or logging.getLogger().handlers:
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    log.addHandler(handler)
    log.setLevel(level)
