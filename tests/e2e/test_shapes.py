"""Every function shape, three ways: imported plainly, under the import hook,
and from the client tree of `wdk build` -- on both worlds.

Each (mode, world) runs tests/e2e/shapes_child.py once, in a fresh process
(the import hook and a build tree are process-wide), which starts every
scenario of flows/shapes.py and prints the outcomes; each test below checks
one shape in those outcomes.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from e2e_support import child_env, read_ledger, run_state, start_in_child, wait_runs, workers

from wdk.compiler.build import build

HERE = Path(__file__).resolve().parent
MODES = ("plain", "hook", "build")
CHILD_TIMEOUT = 120

_outcomes: dict[tuple[str, str, str], dict[str, Any]] = {}


@pytest.fixture(scope="module")
def build_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`wdk build` of the test flows; the child imports from its client tree."""
    out = tmp_path_factory.mktemp("shapes-build")
    result = build([str(HERE / "flows")], out, root=HERE, workers=1)
    assert result.ok, [d.format() for d in result.diagnostics]
    assert (out / "client" / "flows" / "shapes.py").is_file()
    return out


@pytest.fixture(params=MODES)
def outcomes(
    request: pytest.FixtureRequest,
    e2e_world: str,
    data_dir: Path,
    subprocess_env: dict[str, str],
    build_dir: Path,
) -> dict[str, Any]:
    """The child's outcomes for this mode and world (one child per pair)."""
    mode: str = request.param
    # The build dir is part of the key: under xdist a module's fixtures may be
    # set up again in one process (a new build dir), and its children with them.
    key = (mode, e2e_world, str(build_dir))
    if key not in _outcomes:
        cmd = [sys.executable, str(HERE / "shapes_child.py"), "--mode", mode]
        cmd += ["--build-dir", str(build_dir / "client")]
        if e2e_world == "local":
            cmd += ["--data-dir", str(data_dir)]
        env = {**subprocess_env, "PYTHONDONTWRITEBYTECODE": "1"}
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=CHILD_TIMEOUT)
        assert proc.returncode == 0, proc.stderr
        lines = proc.stdout.strip().splitlines()
        assert lines, proc.stderr
        out: dict[str, Any] = json.loads(lines[-1])
        out["__stderr__"] = proc.stderr
        _outcomes[key] = out
    out = _outcomes[key]
    if mode == "build":
        assert out["__file__"].startswith(str(build_dir)), out["__file__"]
    if mode in ("hook", "build"):
        assert out["__mode__"] == "client"
    else:
        assert out["__mode__"] is None
    return out


def ok(outcomes: dict[str, Any], name: str) -> dict[str, Any]:
    found: dict[str, Any] = outcomes[name]
    assert "crash" not in found, found["crash"]
    assert "error" not in found, f"{name}: {found['error']}\n{outcomes['__stderr__'][-3000:]}"
    return found


# --- 1. methods marked "use step" ----------------------------------------------


def test_methods_are_durable_steps(outcomes: dict[str, Any]) -> None:
    got = ok(outcomes, "methods")
    assert got["result"] == [
        6,
        "Billing:16:step//flows.shapes//Billing.rate",
        8,
        3,
        5,
        2,  # retried once: a step, with a step's retries
    ]
    assert got["steps"] == [
        "step//flows.shapes//Billing.fee",
        "step//flows.shapes//Billing.rate",
        "step//flows.shapes//Cart.total",
        "step//flows.shapes//Cart.count",
        "step//flows.shapes//Point.norm1",
        "step//flows.shapes//Billing.flaky",
    ]


def test_unserializable_self_is_a_serialization_error(outcomes: dict[str, Any]) -> None:
    got = outcomes["opaque_self"]
    assert "error" in got, got
    assert got["error"].startswith("WorkflowFailed")
    assert "SerializationError" in got["error"]
    assert "Opaque.show" in got["error"] and "self" in got["error"]


def test_method_steps_stay_plain_methods_outside_workflows(outcomes: dict[str, Any]) -> None:
    assert ok(outcomes, "direct_calls")["result"] == (
        "get_step_metadata() can only be called while a step is running"
    )


# --- 2. workflows held by a class ------------------------------------------------


def test_static_method_workflow(outcomes: dict[str, Any]) -> None:
    got = ok(outcomes, "static_workflow")
    assert got["result"] == [3, "flows-2"]
    assert got["steps"] == ["step//flows.shapes//Billing.fee", "step//flows.shapes//Flows.label"]


def test_class_method_workflow(outcomes: dict[str, Any]) -> None:
    got = ok(outcomes, "class_workflow")
    assert got["result"] == ["Flows", "flows-2", "Billing:6:step//flows.shapes//Billing.rate"]
    assert got["steps"] == ["step//flows.shapes//Flows.label", "step//flows.shapes//Billing.rate"]
    assert ok(outcomes, "class_workflow_by_id")["result"][1] == "flows-4"


def test_classmethods_reached_through_a_subclass_are_refused(outcomes: dict[str, Any]) -> None:
    """`cls` on the step's (or the run's) side would be the defining class, not the
    subclass: refused clearly rather than run with the wrong class."""
    step = outcomes["classmethod_step_on_a_subclass"]["error"]
    assert step.startswith("WorkflowFailed") and "TypeError" in step
    assert "Billing.rate was called on PremiumBilling" in step
    flow = outcomes["classmethod_workflow_on_a_subclass"]["error"]
    assert flow.startswith("TypeError: workflow//flows.shapes//Flows.class_flow is a @classmethod")
    assert "MoreFlows" in flow
    ref = outcomes["classmethod_ref_through_a_subclass"]["error"]
    assert ref.startswith("SerializationError: cannot serialize the step function at args[0]")
    assert "reached through PremiumBilling" in ref


# --- 3. steps nested in a workflow ------------------------------------------------


def test_nested_steps_carry_their_captured_locals(outcomes: dict[str, Any]) -> None:
    got = ok(outcomes, "nested_steps")
    assert got["result"] == [23, 1007, "hey!!"]
    calc = "step//flows.shapes//closure_flow.<locals>.calc"
    assert got["steps"] == [calc, calc, "step//flows.shapes//closure_flow.<locals>.shout"]


def test_nested_step_in_a_class_workflow(outcomes: dict[str, Any]) -> None:
    got = ok(outcomes, "nested_in_class_workflow")
    assert got["result"] == 12
    assert got["steps"] == ["step//flows.shapes//Nested.flow.<locals>.add"]


# --- 4. register_type() at module level ---------------------------------------------


def test_module_level_register_type_in_a_workflow_module(outcomes: dict[str, Any]) -> None:
    got = ok(outcomes, "registered_type")
    assert got["result"] == [[300, "EUR"], True, True, "paid 300"]
    assert got["steps"] == ["step//flows.shapes//Money.doubled", "step//flows.shapes//pay"]


def test_register_type_same_class_again_is_a_no_op_another_is_refused(
    outcomes: dict[str, Any],
) -> None:
    message = ok(outcomes, "register_type_rules")["result"]
    assert "'reg:Money' is already registered for flows.shapes.Money" in message


# --- 5. step functions as values ----------------------------------------------------


def test_step_functions_cross_as_references(outcomes: dict[str, Any]) -> None:
    got = ok(outcomes, "step_refs")
    assert got["result"] == [7, 205, "paid 5", "Billing:15:step//flows.shapes//Billing.rate", 101]
    shift = "step//flows.shapes//refs_flow.<locals>.shift"
    assert got["steps"] == [
        "step//flows.shapes//pick",
        "step//flows.shapes//pick",
        "step//flows.shapes//echo",
        "step//flows.shapes//apply_twice",  # Billing.fee ran inside it, not as a step
        "step//flows.shapes//apply_twice",
        "step//flows.shapes//pay",  # the reference a step returned, called in the workflow
        "step//flows.shapes//Billing.rate",
        shift,
    ]


def test_step_function_passed_to_start(outcomes: dict[str, Any]) -> None:
    got = ok(outcomes, "step_ref_to_start")
    assert got == {"result": "paid 9", "steps": ["step//flows.shapes//pay"]}
    got = ok(outcomes, "method_ref_to_start")
    assert got["result"] == "Billing:6:step//flows.shapes//Billing.rate"
    assert got["steps"] == ["step//flows.shapes//Billing.rate"]


def test_a_plain_function_is_refused_at_start(outcomes: dict[str, Any]) -> None:
    got = outcomes["plain_function_refused"]
    assert got["error"].startswith("SerializationError: cannot serialize the function not_a_step")
    assert 'only functions marked "use step"' in got["error"]


# --- durability: a method step killed mid-attempt ----------------------------------


async def test_a_method_step_killed_mid_attempt_resumes_in_a_worker(
    data_dir: Path, tmp_path: Path, subprocess_env: dict[str, str]
) -> None:
    """SIGKILL the process right after a method step's side effect (before its
    completion is committed); a `wdk worker` started afterwards replays the
    class-held workflow cold and runs the method step again: the same attempt,
    recovered (a crash uses none of its retries)."""
    ledger = tmp_path / "ledger.jsonl"
    env = child_env(
        subprocess_env,
        CRASHY_LEDGER=str(ledger),
        CRASHY_MARKER=str(tmp_path / "crashed"),
        CRASHY_AT="ship:end",
    )
    child = start_in_child(data_dir, "flows.crashy:Depot.route", [5], env)
    assert child.status == -signal.SIGKILL, child.stderr
    before, events = await run_state(data_dir, child.run_id)
    assert before.status == "running"
    assert events[-1].type == "step_started" and events[-1].payload["attempt"] == 1
    with workers(data_dir, env, tmp_path) as (worker,):
        runs = await wait_runs(data_dir, [child.run_id])
    run = runs[child.run_id]
    assert run.status == "completed", run.error
    assert run.output == 15
    seen = [(line["step"], line["attempt"], line["recovery"], line["pid"]) for line in read_ledger(ledger)]
    assert seen == [("ship", 1, 0, child.pid), ("ship", 1, 1, worker.pid)]
    _, events = await run_state(data_dir, child.run_id)
    created = [e.payload["step_id"] for e in events if e.type == "step_created"]
    assert created == ["step//flows.crashy//Parcel.ship"]


# --- where a call was made ----------------------------------------------------------


async def test_method_steps_and_step_references_are_located_at_the_workflow_line(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The call site the runtime records (shown in divergence errors) is the
    workflow's own line, through a method's dispatcher or a StepRef too."""
    from flows import shapes

    from wdk.api import start
    from wdk.runtime.engine import get_runtime

    rt = await get_runtime()
    seen: dict[str, str] = {}
    execute = rt.orchestrator._execute  # every execution comes here (an inline one too)

    async def spy(inst: Any, call: Any) -> Any:
        seen.setdefault(call.name.rpartition("//")[2], call.location)
        return await execute(inst, call)

    monkeypatch.setattr(rt.orchestrator, "_execute", spy)
    await (await start(shapes.methods, 5)).result(timeout=10)
    await (await start(shapes.refs_flow, 5)).result(timeout=10)
    source = Path(shapes.__file__).read_text().splitlines()

    def line_of(name: str) -> str:
        path, _, line = seen[name].rpartition(":")
        assert path == shapes.__file__
        return source[int(line) - 1]

    assert "await Billing.fee(x)" in line_of("Billing.fee")
    assert "Cart([1, 2]).total(x)" in line_of("Cart.total")
    assert "Point(-2, 3).norm1()" in line_of("Point.norm1")
    assert "await chosen(x)" in line_of("pay")  # a StepRef a step returned
    assert "await back(1)" in line_of("refs_flow.<locals>.shift")
