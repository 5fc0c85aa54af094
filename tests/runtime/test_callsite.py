"""Every call a workflow makes is located at the user's line (so
tracebacks point at the user's file and line), whatever asyncio wraps it in:
a step run by `gather` or `create_task` has no user frame on its own stack."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from wdk.runtime import callsite, serde
from wdk.runtime.instance import WorkflowInstance
from wdk.runtime.loader import Loader
from wdk.worlds.base import Event

FLOWS = Path(__file__).resolve().parent / "callsite_flows.py"


def _markers() -> dict[str, str]:
    """`# <- name` markers of callsite_flows.py -> "file:line"."""
    found = {}
    for number, line in enumerate(FLOWS.read_text().splitlines(), 1):
        match = re.search(r"# <- (\w+)", line)
        if match:
            found[f"{FLOWS}:{number}"] = match.group(1)
    return found


def _calls(name: str, *args: Any) -> list[tuple[str, str]]:
    """(kind, marker) of each call the workflow makes before it first blocks."""
    workflow_id = f"workflow//callsite_flows//{name}"
    fn = Loader().workflow_function(workflow_id)
    payload = {"workflow_id": workflow_id, "input": serde.encode_call(args, {}, None)}
    created = Event("wrun_callsite", 0, "run_created", 1_700_000_000.0, None, payload)
    inst = WorkflowInstance("wrun_callsite", workflow_id, fn, created)
    try:
        inst.apply(created)
        markers = _markers()
        return [(c.kind, markers.get(c.location, c.location)) for c in inst.take_commands()]
    finally:
        inst.close()


def test_a_directly_awaited_step_is_located_at_its_await() -> None:
    assert _calls("direct", "a") == [("step", "direct")]


def test_steps_inside_gather_are_located_at_the_gather_line() -> None:
    # Was asyncio/events.py:80: the task that runs each step has no user frame.
    assert _calls("gathered", ["a", "bb", "ccc"]) == [("step", "gathered")] * 3


def test_every_asyncio_shape_is_located_at_the_users_line() -> None:
    calls = Counter(_calls("every_shape", "a"))
    assert calls == Counter(
        {
            ("step", "create_task"): 1,
            ("step", "helper"): 1,  # awaited in a helper run by ensure_future
            ("step", "fan"): 2,  # gather inside a task
            ("hook", "hook"): 1,
            ("wait", "wait_for"): 1,  # wait_for's timeout is a durable wait
            ("step", "wait_for"): 1,
            ("step", "task_group"): 1,
            ("wait", "sleep"): 1,
        }
    )


def test_library_and_stdlib_files_are_not_the_users() -> None:
    import asyncio

    import aiohttp

    import wdk

    assert not callsite.is_user_file(asyncio.__file__)
    assert not callsite.is_user_file(aiohttp.__file__)
    assert not callsite.is_user_file(wdk.__file__)
    assert not callsite.is_user_file("<string>")  # e.g. a dataclass's __init__
    assert callsite.is_user_file(str(FLOWS))
    assert callsite.is_user_file("/srv/app/.venv-free/shop/flows.py")


@pytest.mark.parametrize("name", ["direct", "gathered"])
def test_no_call_is_located_in_wdk_or_asyncio(name: str) -> None:
    arg: Any = "a" if name == "direct" else ["a", "b"]
    for _, where in _calls(name, arg):
        assert "asyncio" not in where and "/wdk/" not in where, where


def test_an_event_for_a_call_of_another_kind_is_a_divergence() -> None:
    """Calls are typed (StepCall, WaitCall, HookCall): a log that says a step
    started where the workflow waits is refused, not applied to the wait."""
    from wdk.errors import NonDeterminismError
    from wdk.runtime.instance import StepCall, WaitCall

    workflow_id = "workflow//callsite_flows//every_shape"
    fn = Loader().workflow_function(workflow_id)
    payload = {"workflow_id": workflow_id, "input": serde.encode_call(("a",), {}, None)}
    created = Event("wrun_kinds", 0, "run_created", 1_700_000_000.0, None, payload)
    inst = WorkflowInstance("wrun_kinds", workflow_id, fn, created)
    try:
        inst.apply(created)
        commands = inst.take_commands()
        wait = next(c for c in commands if isinstance(c, WaitCall))
        assert all(isinstance(c, StepCall) == (c.kind == "step") for c in commands)
        for seq, call in enumerate(commands, 1):
            kind = type(call).kind
            extra = {"step_id": call.name} if kind == "step" else {"token": call.name} if kind == "hook" else {
                "resume_at": wait.resume_at}
            inst.apply(Event("wrun_kinds", seq, f"{kind}_created", 1_700_000_000.0, call.correlation_id, extra))
        wrong = Event("wrun_kinds", len(commands) + 1, "step_started", 1_700_000_000.0, wait.correlation_id,
                      {"attempt": 1})
        with pytest.raises(NonDeterminismError, match=rf"the log has step_started for {wait.correlation_id}, "
                                                      "which is a wait here"):
            inst.apply(wrong)
    finally:
        inst.close()
