"""Step functions as values: encoded as references, decoded as callable StepRefs."""

from __future__ import annotations

import importlib
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

from wdk import SerializationError
from wdk.runtime import serde
from wdk.runtime.step_refs import StepRef

SOURCE = '''
async def double(x: int) -> int:
    "use step"
    return 2 * x


class Tools:
    @staticmethod
    def inc(x: int) -> int:
        "use step"
        return x + 1


def helper(x: int) -> int:
    return x
'''


@pytest.fixture
def mod(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[ModuleType]:
    name = f"wdk_refs_{tmp_path.name.replace('-', '_')}"
    (tmp_path / f"{name}.py").write_text(textwrap.dedent(SOURCE))
    monkeypatch.syspath_prepend(str(tmp_path))
    module = importlib.import_module(name)
    yield module
    sys.modules.pop(name, None)


async def test_a_step_function_round_trips_as_a_callable_reference(mod: ModuleType) -> None:
    data = serde.to_builtins([mod.double, mod.Tools.inc])
    name = mod.__name__
    assert data == [
        {"$wdk": "step", "v": f"step//{name}//double"},
        {"$wdk": "step", "v": f"step//{name}//Tools.inc"},
    ]
    double, inc = serde.from_builtins(data)
    assert isinstance(double, StepRef) and double.step_id == f"step//{name}//double"
    # Outside a workflow, calling the reference runs the step's code.
    assert await double(21) == 42
    assert inc(1) == 2
    assert serde.to_builtins(double) == data[0]  # and it travels on unchanged


def test_a_plain_function_is_refused_with_its_path(mod: ModuleType) -> None:
    with pytest.raises(SerializationError) as info:
        serde.encode_call((1, {"f": mod.helper}), {})
    assert info.value.path == "args[1]['f']"
    assert 'cannot serialize the function helper at args[1][\'f\']: only functions marked "use step"' in str(
        info.value
    )
    with pytest.raises(SerializationError):
        serde.to_builtins(lambda: 1)


def test_captured_values_travel_and_are_checked() -> None:
    # A stand-in for a step nested in a workflow: its module's table names it.
    namespace: dict[str, object] = {"__wdk_steps__": {"flow.<locals>.inner": "step//m//flow.<locals>.inner"}}
    exec(
        "def flow(base):\n    def inner(y):\n        return y + base\n    return inner\n",
        namespace,
    )
    inner = namespace["flow"](5)  # type: ignore[operator]
    data = serde.to_builtins(inner)
    assert data == {"$wdk": "step", "v": "step//m//flow.<locals>.inner", "closure": {"base": 5}}
    ref = serde.from_builtins(data)
    assert ref == StepRef("step//m//flow.<locals>.inner", {"base": 5})
    bad = namespace["flow"](object())  # type: ignore[operator]
    with pytest.raises(SerializationError) as info:
        serde.encode_call((bad,), {})
    assert info.value.path == "inspect.getclosurevars(args[0]).nonlocals['base']"
