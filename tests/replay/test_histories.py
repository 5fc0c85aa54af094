"""Recorded histories (tests/histories/) must replay against the current code.

A failure here means a change to tests/e2e/flows/replayable.py (or to the
runtime) would break runs already in flight. If the change is intended,
re-record with `.venv/bin/python scripts/record_histories.py`.
"""

from __future__ import annotations

from pathlib import Path

import msgspec
import pytest

from wdk.errors import NonDeterminismError
from wdk.runtime.replay import dump_history, load_history, replay_events
from wdk.worlds.base import Event

HISTORIES = Path(__file__).resolve().parent.parent / "histories"
DIVERGENT = HISTORIES / "divergent_step_renamed.json"
CLEAN = sorted(p for p in HISTORIES.glob("*.json") if p != DIVERGENT)


def test_there_are_recorded_histories() -> None:
    assert len(CLEAN) >= 3
    assert DIVERGENT.is_file()


@pytest.mark.parametrize("path", CLEAN, ids=lambda p: p.stem)
def test_recorded_history_replays_without_divergence(path: Path) -> None:
    events = load_history(path)
    report = replay_events(events)
    report.check()
    assert report.ok and report.applied == report.events == len(events)
    assert report.recorded_status in ("completed", "failed")
    assert report.finished and report.result_matches
    assert "replays cleanly" in report.format()


def test_divergent_history_reports_non_determinism() -> None:
    report = replay_events(load_history(DIVERGENT))
    assert not report.ok
    assert isinstance(report.error, NonDeterminismError)
    assert "fetch_cost" in report.error.expected
    assert "fetch_price" in report.error.actual
    assert report.error.location.endswith(f"replayable.py:{_line_of('await fetch_price(sku)')}")
    assert report.diverged_at == 2
    assert "DIVERGES at event 2" in report.format()
    with pytest.raises(
        NonDeterminismError, match=r"history has: step step//flows\.replayable//fetch_cost"
    ):
        report.check()


def _line_of(text: str) -> int:
    source = (
        Path(__file__).resolve().parent.parent / "e2e" / "flows" / "replayable.py"
    ).read_text()
    return next(n for n, line in enumerate(source.splitlines(), 1) if text in line)


def _checkout() -> list[Event]:
    return load_history(HISTORIES / "checkout_sequential.json")


def test_unfinished_history_replays_and_names_the_next_call() -> None:
    events = _checkout()
    first_done = next(e.seq for e in events if e.type == "step_completed")
    report = replay_events(events[: first_done + 1])
    assert report.ok and report.recorded_status == "running" and not report.finished
    assert len(report.next_calls) == 1
    assert "step//flows.replayable//fetch_price" in report.next_calls[0]
    assert "not finished" in report.format()


def test_different_result_is_a_divergence() -> None:
    events = _checkout()
    last = events[-1]
    assert last.type == "run_completed"
    events[-1] = msgspec.structs.replace(last, payload={"result": {"total": -1}})
    report = replay_events(events)
    assert not report.ok and report.diverged_at == last.seq
    assert report.result_matches is False
    assert "ends differently" in str(report.error)


def test_call_missing_from_a_finished_history_is_a_divergence() -> None:
    events = _checkout()
    # Drop the last step (created, started, completed) but keep run_completed.
    last_step = [e.correlation_id for e in events if e.type == "step_created"][-1]
    kept = [e for e in events if e.correlation_id != last_step]
    kept = [msgspec.structs.replace(e, seq=n) for n, e in enumerate(kept)]
    report = replay_events(kept)
    assert not report.ok
    assert report.error is not None and "send_receipt" in report.error.actual
    assert "replayable.py:" in report.error.location


def test_history_file_round_trip(tmp_path: Path) -> None:
    events = _checkout()
    dump_history(events, tmp_path / "h.json")
    assert load_history(tmp_path / "h.json") == events
    (tmp_path / "bare.json").write_bytes(msgspec.json.encode(events))
    assert load_history(tmp_path / "bare.json") == events


@pytest.mark.parametrize(
    ("content", "message"),
    [("{nope", "not JSON"), ('{"format": "x"}', "not a wdk history"), ("[]", "starts with")],
)
def test_bad_history_files(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "bad.json"
    path.write_text(content)
    with pytest.raises(ValueError, match=message):
        replay_events(load_history(path))
