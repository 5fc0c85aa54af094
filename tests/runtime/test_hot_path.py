"""The shortcuts a step's hot path takes give what the plain code gives."""

from __future__ import annotations

import dataclasses
import functools
import sys

import pytest

from wdk.runtime import callsite
from wdk.runtime.instance import _CorrelationIds, correlation_id
from wdk.runtime.metadata import StepMetadata
from wdk.runtime.steps import _is_async


@pytest.mark.parametrize("run_id", ["wrun_01J0000000000000000000000", "r", "ü:1"])
def test_correlation_ids_from_the_hashed_prefix_are_the_documented_ones(run_id: str) -> None:
    ids = _CorrelationIds(run_id)
    for kind in ("step", "wait", "hook"):
        for n in (1, 2, 9, 10, 11, 12345):
            assert ids(kind, n) == correlation_id(run_id, kind, n)


def test_step_metadata_is_still_a_frozen_dataclass() -> None:
    meta = StepMetadata("step//m//f", "step_1_x", 2, 10.0, "wrun_1", workflow_id="workflow//m//w")
    assert [f.name for f in dataclasses.fields(meta)] == [
        "step_id", "correlation_id", "attempt", "started_at", "run_id", "recovery", "workflow_id", "run_started_at",
    ]
    assert (meta.recovery, meta.run_started_at) == (0, 0.0)
    assert meta == StepMetadata(
        step_id="step//m//f", correlation_id="step_1_x", attempt=2, started_at=10.0, run_id="wrun_1",
        recovery=0, workflow_id="workflow//m//w", run_started_at=0.0,
    )
    assert hash(meta) == hash(dataclasses.replace(meta))
    assert dataclasses.replace(meta, attempt=3).attempt == 3
    assert meta.attempt_key == "step_1_x#2.0"
    with pytest.raises(dataclasses.FrozenInstanceError):
        meta.attempt = 5  # type: ignore[misc]
    assert "attempt=2" in repr(meta)


async def _coro_step() -> int:
    return 1


def _plain_step() -> int:
    return 1


class _Steps:
    async def method(self) -> int:
        return 1


def test_is_async_answers_as_inspect_does() -> None:
    assert _is_async(_coro_step)
    assert not _is_async(_plain_step)
    assert _is_async(_Steps().method)  # a bound method: inspect's answer
    assert _is_async(functools.partial(_coro_step))
    assert not _is_async(functools.partial(_plain_step))


def _here() -> str:
    return callsite.location(sys._getframe(1))


def test_call_sites_are_remembered_per_instruction(monkeypatch: pytest.MonkeyPatch) -> None:
    line = sys._getframe().f_lineno
    first = [_here() for _ in range(3)]  # one call site, three calls
    second = _here()
    assert first == [f"{__file__}:{line + 1}"] * 3
    assert second == f"{__file__}:{line + 2}"
    monkeypatch.setattr(callsite, "_MAX_PLACES", len(callsite._places))  # full: emptied, then found again
    assert _here() == f"{__file__}:{line + 6}"
    assert len(callsite._places) == 1
