"""Run compiled fixtures: client stubs raise, workflow proxies pass the right call."""

from __future__ import annotations

import asyncio
import sys
import types
from typing import Any

import pytest
from compiler_goldens import FIXTURES, case_names, read

import wdk.runtime.compiled as compiled
from wdk.compiler.api import analyze_source, compile_source
from wdk.errors import WorkflowCalledDirectly

Call = tuple[str, tuple[Any, ...], dict[str, Any], dict[str, Any] | None]


def load(case: str, mode: str) -> dict[str, Any]:
    """Exec a fixture's golden output as module `case` (in sys.modules while it
    runs, as dataclasses need)."""
    module = types.ModuleType(case)
    sys.modules[case] = module
    try:
        code = read(FIXTURES / case / f"{mode}.py")
        exec(compile(code, f"{case}/{mode}.py", "exec"), module.__dict__)
    finally:
        del sys.modules[case]
    return module.__dict__


@pytest.fixture
def calls(monkeypatch: pytest.MonkeyPatch) -> list[Call]:
    """Installs a fake step caller that records calls and returns their step id."""
    recorded: list[Call] = []
    monkeypatch.setattr(compiled, "_step_caller", None)  # restored after the test

    async def fake(
        step_id: str, args: tuple[Any, ...], kwargs: dict[str, Any], closure: dict[str, Any] | None
    ) -> Any:
        recorded.append((step_id, args, kwargs, closure))
        return step_id.rsplit("//", 1)[1]

    compiled.set_step_caller(fake)
    return recorded


# --- client mode ---------------------------------------------------------------


def test_client_workflow_raises_and_steps_still_run() -> None:
    ns = load("dunder_all", "client")
    assert ns["signup"].__wdk_workflow_id__ == "workflow//dunder_all//signup"
    assert ns["create_account"].__wdk_step_id__ == "step//dunder_all//create_account"
    with pytest.raises(WorkflowCalledDirectly) as raised:
        asyncio.run(ns["signup"]("a@b.c"))
    assert raised.value.workflow_id == "workflow//dunder_all//signup"
    assert asyncio.run(ns["create_account"]("a@b.c")) == "A@B.C"
    assert ns["__wdk_mode__"] == "client"
    assert ns["__all__"] == ["signup", "create_account"]


@pytest.mark.parametrize(
    ("case", "workflow", "steps"),
    [
        ("one_line_bodies", ("calc", 1), {"add": (2,), "sub": (3, 1)}),
        ("static_class_methods", ("bill", 1), {}),
        ("quote_styles", ("multiline",), {"single": (), "padded": ()}),
        ("module_directive_step", None, {"fetch": ("u",), "parse": ('{"a": 1}',)}),
    ],
)
def test_client_outputs_of_several_shapes(
    case: str, workflow: tuple[Any, ...] | None, steps: dict[str, tuple[Any, ...]]
) -> None:
    plain = load(case, "input")
    ns = load(case, "client")
    if workflow is not None:
        name, *args = workflow
        with pytest.raises(WorkflowCalledDirectly):
            asyncio.run(ns[name](*args))
    for name, args in steps.items():
        got, want = ns[name](*args), plain[name](*args)
        if asyncio.iscoroutine(got):
            got, want = asyncio.run(got), asyncio.run(want)
        assert got == want  # a step in client mode is the user's function
        assert ns[name].__wdk_step_id__ == f"step//{case}//{name}"


def test_client_class_steps_are_tagged() -> None:
    ns = load("nested_classes", "client")
    deepest = ns["Outer"].Inner.Deeper.deepest
    assert deepest.__wdk_step_id__ == "step//nested_classes//Outer.Inner.Deeper.deepest"
    assert asyncio.run(deepest(4)) == 8
    with pytest.raises(WorkflowCalledDirectly):
        asyncio.run(ns["Outer"].run(1))


def test_step_mode_also_stubs_workflows() -> None:
    ns = load("static_workflow", "step")
    assert ns["__wdk_mode__"] == "step"
    with pytest.raises(WorkflowCalledDirectly):
        asyncio.run(ns["Flows"].weekly(3))
    assert asyncio.run(ns["report"]("now")) == "report now"


# --- workflow mode ---------------------------------------------------------------


def test_proxy_applies_defaults_and_splits_star_args(calls: list[Call]) -> None:
    ns = load("annotations_defaults", "workflow")
    everything = ns["everything"]

    async def scenario() -> None:
        await everything(1)
        await everything(1, "b", 2.0, 7, 8, flag=True, z=1)
        await ns["only_kw"](name="n")
        await ns["only_star"](1, 2, 3)
        await ns["nothing"]()

    asyncio.run(scenario())
    step = "step//annotations_defaults//"
    assert calls == [
        (step + "everything", (1, "x", 1.5), {"flag": False, "limit": None}, None),
        (step + "everything", (1, "b", 2.0, 7, 8), {"flag": True, "limit": None, "z": 1}, None),
        (step + "only_kw", (), {"name": "n", "count": 3}, None),
        (step + "only_star", (1, 2, 3), {}, None),
        (step + "nothing", (), {}, None),
    ]


def test_proxy_for_class_and_instance_methods(calls: list[Call]) -> None:
    billing = load("static_class_methods", "workflow")
    carts = load("instance_method_step", "workflow")
    cart = carts["Cart"](["a", "b"])

    async def scenario() -> Any:
        await billing["Billing"].charge(3)
        await billing["Billing"].fee(5)
        pending = billing["Billing"].sync_fee()  # plain def: returns the awaitable
        assert asyncio.iscoroutine(pending)
        await pending
        await cart.total()
        return await carts["price"](cart)  # the workflow itself runs in workflow mode

    assert asyncio.run(scenario()) == "Cart.total"
    assert calls == [
        ("step//static_class_methods//Billing.charge", (3,), {}, None),
        ("step//static_class_methods//Billing.fee", (5,), {"currency": "EUR"}, None),  # no cls
        ("step//static_class_methods//Billing.sync_fee", (), {}, None),
        ("step//instance_method_step//Cart.total", (cart, 0.2), {}, None),  # self travels
        ("step//instance_method_step//Cart.count", (cart,), {}, None),
        ("step//instance_method_step//Cart.total", (cart, 0.2), {}, None),
    ]


def test_nested_steps_pass_the_workflow_locals_they_read(calls: list[Call]) -> None:
    onboard = load("nested_step_captures", "workflow")["onboard"]
    batch = load("nested_step_comprehension", "workflow")["batch"]
    monthly = load("nested_step_in_method_workflow", "workflow")["Reports"].monthly

    async def scenario() -> None:
        await onboard("u1", "pro")
        await batch([1, 2], 3)
        await monthly(5)

    asyncio.run(scenario())
    assert [(c[0].rsplit("//", 1)[1], c[1], c[3]) for c in calls] == [
        ("onboard.<locals>.audit", (), {"plan": "pro"}),
        (
            "onboard.<locals>.welcome",
            ("email",),
            {"greeting": "hello", "limit": 10, "user_id": "u1"},
        ),
        ("batch.<locals>.scale", (), {"factor": 3, "offset": 3, "rows": [1, 2]}),
        ("Reports.monthly.<locals>.render", ("ok",), {"title": "month 5"}),
    ]


def _code_objects(code: types.CodeType) -> list[types.CodeType]:
    found = [code]
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            found += _code_objects(const)
    return found


@pytest.mark.parametrize(
    "case", [c for c in case_names() if not (FIXTURES / c / "errors.txt").exists()]
)
def test_captures_match_pythons_free_variables(case: str) -> None:
    source = read(FIXTURES / case / "input.py")
    codes = {c.co_qualname: c for c in _code_objects(compile(source, case, "exec"))}
    for info in analyze_source(source, case).steps:
        if "<locals>" in info.qualname:
            assert info.captures == codes[info.qualname].co_freevars


def test_workflow_mode_leaves_workflows_runnable(calls: list[Call]) -> None:
    ns = load("many_workflows_and_steps", "workflow")
    assert asyncio.run(ns["w2"](1)) == "s2"
    assert [c[0] for c in calls] == [
        "step//many_workflows_and_steps//s1",
        "step//many_workflows_and_steps//s2",
    ]
    assert ns["__wdk_workflows__"]["K.w3"] == "workflow//many_workflows_and_steps//K.w3"


def test_unicode_names_round_trip(calls: list[Call]) -> None:
    source = 'async def café(x):\n    "use step"\n    return x\n\nasync def flüsse():\n    "use workflow"\n    return await café(1)\n'
    ns: dict[str, Any] = {}
    exec(compile(compile_source(source, "ünï", "workflow"), "u", "exec"), ns)
    assert asyncio.run(ns["flüsse"]()) == "café"
    assert ns["café"].__wdk_step_id__ == "step//ünï//café"
