"""Replaying a recorded history against the current code.

    from wdk.runtime.replay import load_history, replay_events

    report = replay_events(load_history("tests/histories/checkout.json"))
    print(report.format())          # "replays cleanly ..." or the first divergence
    report.check()                  # raises NonDeterminismError on a divergence

This is the orchestrator's cold start without the world: the workflow is
loaded from today's source, every event is applied in log order, and the
instance's own matching (the same code that guards live runs) finds the
first call that differs. Nothing is appended and no step runs: a replay
only reads. On top of the per-event matching, the end of the history is
checked too: a finished history must end where the code ends, with the
result or error the log recorded.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgspec

from wdk.errors import NonDeterminismError, WdkError
from wdk.runtime import serde
from wdk.runtime.instance import WorkflowInstance
from wdk.runtime.loader import Loader, default_loader, split_id
from wdk.worlds.base import END_STATUS, Event, World

__all__ = ["LIVE_STATUSES", "ReplayReport", "dump_history", "load_history", "replay_events", "replay_runs"]

# What `wdk replay --all` checks unless told otherwise: every run a deploy can break.
LIVE_STATUSES = ("pending", "running", "blocked")

HISTORY_FORMAT = "wdk-history/1"



@dataclass
class ReplayReport:
    """What a replay found. `ok` is False exactly when `error` is set."""

    run_id: str
    workflow_id: str
    events: int  # events in the history
    recorded_status: str  # completed | failed | cancelled | running (no terminal event)
    error: NonDeterminismError | None = None
    diverged_at: int | None = None  # seq of the event that did not match
    applied: int = 0  # events applied before the divergence (all of them when ok)
    finished: bool = False  # the workflow code returned or raised
    result_matches: bool | None = None  # None when the history has no result to compare
    next_calls: list[str] = field(default_factory=list)  # what the code would do next

    @property
    def ok(self) -> bool:
        return self.error is None

    def check(self) -> None:
        """Raise the divergence, if any."""
        if self.error is not None:
            raise self.error

    def format(self) -> str:
        """A few human lines: the verdict, then details."""
        head = f"run {self.run_id} ({self.workflow_id}), {self.events} events"
        if self.error is not None:
            where = f" at event {self.diverged_at}" if self.diverged_at is not None else ""
            return f"{head}: DIVERGES{where}\n{self.error}"
        lines = [f"{head}: replays cleanly"]
        if self.recorded_status == "running":
            lines.append("the history is not finished (the run is still in progress)")
            lines += [f"  next: {call}" for call in self.next_calls]
        elif self.result_matches:
            what = "result" if self.recorded_status == "completed" else "error"
            lines.append(f"the workflow finished with the recorded {what} ({self.recorded_status})")
        elif self.recorded_status == "cancelled":
            lines.append("the run was cancelled; the code agrees up to that point")
        return "\n".join(lines)

    def as_dict(self) -> dict[str, Any]:
        error = None
        if self.error is not None:
            error = {
                "message": str(self.error),
                "expected": self.error.expected,
                "actual": self.error.actual,
                "location": self.error.location,
            }
        return {
            "ok": self.ok,
            "run_id": self.run_id,
            "workflow_id": self.workflow_id,
            "events": self.events,
            "applied": self.applied,
            "recorded_status": self.recorded_status,
            "diverged_at": self.diverged_at,
            "error": error,
            "finished": self.finished,
            "result_matches": self.result_matches,
            "next_calls": self.next_calls,
        }


def replay_events(
    events: Sequence[Event], loader: Loader | None = None, store_secret: bytes = b""
) -> ReplayReport:
    """Re-run a run's history (from `run_created` on) against the current code.
    `store_secret` is the secret of the store the run was in (`World.store_secret`):
    without it a workflow that uses `random` replays another random stream.

    Divergences are reported, not raised (`report.check()` raises them);
    code that cannot be loaded at all raises as the loader does
    (`WorkflowNotFound`, `CompileError`, `SyntaxError`).
    """
    if not events or events[0].type != "run_created":
        raise ValueError("a history starts with its run_created event")
    created = events[0]
    workflow_id = str(created.payload.get("workflow_id"))
    terminal = next((e for e in reversed(events) if e.type in END_STATUS), None)
    report = ReplayReport(
        created.run_id,
        workflow_id,
        len(events),
        END_STATUS[terminal.type] if terminal is not None else "running",
    )
    loader = loader or default_loader()
    # As in a worker, the workflow's real module is imported too (its steps
    # live there). The sandboxed copy needs it today: dataclasses defined in a
    # module with string annotations look their module up in sys.modules.
    loader.real_module(split_id(workflow_id)[1])
    fn = loader.workflow_function(workflow_id)
    inst = WorkflowInstance(created.run_id, workflow_id, fn, created, loader.sandbox, store_secret)
    try:
        inst.know_history(events)
        for event in events:
            try:
                inst.apply(event)
            except NonDeterminismError as exc:
                report.error, report.diverged_at = exc, event.seq
                return report
            report.applied += 1
        report.finished = inst.done
        report.next_calls = [
            f"{c.kind} {c.name} ({c.correlation_id}) at {c.location}" for c in inst.take_commands()
        ]
        if terminal is not None:
            _check_end(inst, terminal, report)
    finally:
        inst.close()
    return report


async def replay_runs(
    world: World,
    *,
    statuses: Sequence[str] = LIVE_STATUSES,
    workflow_id: str | None = None,
    loader: Loader | None = None,
    page_size: int = 1000,
) -> AsyncIterator[ReplayReport]:
    """Replay every run with one of `statuses` (of one workflow, if given)
    against the current code: the deploy gate (`wdk replay --all`). One
    report per run, in the world's listing order; code that cannot be loaded
    is reported as a divergence of each run that needs it."""
    loader = loader or default_loader()
    secret = await world.store_secret()
    for status in statuses:
        cursor: str | None = None
        while True:
            page = await world.list_runs(status=status, workflow_id=workflow_id, limit=page_size, cursor=cursor)
            for run in page.items:
                events = await world.read_events(run.id)
                try:
                    yield replay_events(events, loader, secret)
                except (WdkError, ImportError, SyntaxError, ValueError) as exc:
                    report = ReplayReport(run.id, run.workflow_id, len(events), status)
                    report.error = NonDeterminismError(
                        f"run {run.id}: the current code cannot load its workflow: {type(exc).__name__}: {exc}",
                        expected=run.workflow_id,
                        actual="(cannot load)",
                    )
                    yield report
            cursor = page.next_cursor
            if cursor is None:
                break


def _check_end(inst: WorkflowInstance, terminal: Event, report: ReplayReport) -> None:
    """A finished history must end where the code ends, the same way."""
    if terminal.type == "run_cancelled":
        return  # a cancel cuts the run wherever it was, even before a call was recorded
    extra = inst.take_commands()
    if extra:
        call = extra[0]
        report.error = NonDeterminismError(
            f"run {inst.run_id}: the workflow code makes a call its finished history does not have",
            expected=f"{terminal.type} (no more calls)",
            actual=f"{call.kind} {call.name} ({call.correlation_id})",
            location=call.location,
        )
        report.diverged_at = terminal.seq
        return
    if not inst.done:
        report.error = NonDeterminismError(
            f"run {inst.run_id}: the history ends with {terminal.type} but the workflow code is still waiting",
            expected=terminal.type,
            actual="(the workflow has not returned)",
        )
        report.diverged_at = terminal.seq
        return
    expected, actual = _outcomes(inst, terminal)
    report.result_matches = expected == actual
    if not report.result_matches:
        report.error = NonDeterminismError(
            f"run {inst.run_id}: the workflow code ends differently from its history",
            expected=f"{terminal.type} {expected}",
            actual=f"{'run_completed' if actual.startswith('result') else 'run_failed'} {actual}",
        )
        report.diverged_at = terminal.seq


def _outcomes(inst: WorkflowInstance, terminal: Event) -> tuple[str, str]:
    """(recorded, replayed) outcomes as comparable text: `result <json>` or `error <Type>: <message>`."""
    if terminal.type == "run_completed":
        expected = f"result {_json(terminal.payload.get('result'))}"
    else:
        error = terminal.payload.get("error") or {}
        expected = f"error {_short_type(error.get('type'))}: {error.get('message', '')}"
    ok, value = inst.outcome()
    if ok:
        try:
            return expected, f"result {_json(serde.to_builtins(value, 'result'))}"
        except Exception as exc:  # the live run fails the same way (see orchestrator)
            value = exc
    encoded = serde.encode_error(value)
    return expected, f"error {_short_type(encoded.get('type'))}: {encoded.get('message', '')}"


def _short_type(name: object) -> str:
    return str(name or "Error").rsplit(".", 1)[-1]


def _json(value: Any) -> str:
    return msgspec.json.encode(value, order="sorted").decode()


# --- history files ---------------------------------------------------------------------


class _History(msgspec.Struct):
    format: str
    run_id: str
    workflow_id: str
    events: list[Event]


def dump_history(events: Sequence[Event], path: str | Path) -> None:
    """Write a run's events as an indented JSON history file (reviewable in diffs)."""
    if not events:
        raise ValueError("an empty history cannot be written")
    history = _History(
        HISTORY_FORMAT, events[0].run_id, str(events[0].payload.get("workflow_id")), list(events)
    )
    data = msgspec.json.format(msgspec.json.encode(history, order="sorted"), indent=2)
    Path(path).write_bytes(data + b"\n")


def load_history(path: str | Path) -> list[Event]:
    """Read a history file written by `dump_history` (or a bare JSON list of events)."""
    raw = Path(path).read_bytes()
    try:
        data = msgspec.json.decode(raw)
        if isinstance(data, list):
            return msgspec.convert(data, list[Event])
        history = msgspec.convert(data, _History)
    except msgspec.ValidationError as exc:
        raise ValueError(f"{path} is not a wdk history file: {exc}") from exc
    except msgspec.DecodeError as exc:
        raise ValueError(f"{path} is not JSON: {exc}") from exc
    if history.format != HISTORY_FORMAT:
        raise ValueError(
            f"{path}: unknown history format {history.format!r} (expected {HISTORY_FORMAT})"
        )
    return history.events
