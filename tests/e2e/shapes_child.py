"""Child side of tests/e2e/test_shapes.py: run every scenario of flows.shapes
in one mode and print one JSON object {scenario: outcome}.

    python shapes_child.py --mode plain|hook|build [--build-dir D] [--data-dir D]

- plain: `flows.shapes` imported as it is (the runtime compiles it itself);
- hook: `wdk.install_import_hook()` first, so the module is client-compiled;
- build: the module comes from the client tree of `wdk build` (`--build-dir`),
  with the test folder itself off `sys.path`.

An outcome is {"result": ..., "steps": [step ids in order]} or
{"error": "<type>: <message>"}.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import traceback
from collections.abc import Awaitable, Callable
from pathlib import Path
from types import ModuleType
from typing import Any

HERE = str(Path(__file__).resolve().parent)
TIMEOUT = 20.0

Scenario = Callable[[ModuleType], Awaitable[Any]]
SCENARIOS: dict[str, Scenario] = {}


def scenario(fn: Scenario) -> Scenario:
    SCENARIOS[fn.__name__] = fn
    return fn


async def _outcome(run: Any) -> dict[str, Any]:
    try:
        result = await run.result(timeout=TIMEOUT)
    except Exception as exc:
        return {"error": f"{type(exc).__name__}: {exc}"}
    events = await run.events()
    steps = [e.payload["step_id"] for e in events if e.type == "step_created"]
    return {"result": result, "steps": steps}


async def _started(fn: Any, *args: Any, **kwargs: Any) -> dict[str, Any]:
    from wdk.api import start

    try:
        run = await start(fn, *args, **kwargs)
    except Exception as exc:
        return {"error": f"{type(exc).__name__}: {exc}"}
    return await _outcome(run)


# --- scenarios ------------------------------------------------------------------


@scenario
async def methods(m: ModuleType) -> Any:
    return await _started(m.methods, 5)


@scenario
async def opaque_self(m: ModuleType) -> Any:
    return await _started(m.opaque_self)


@scenario
async def direct_calls(m: ModuleType) -> Any:
    """Outside a workflow, methods marked "use step" are plain methods."""
    try:
        await m.Billing.fee(1)
    except RuntimeError as exc:  # get_step_metadata() outside a step
        return {"result": str(exc)}
    return {"result": "no error"}


@scenario
async def static_workflow(m: ModuleType) -> Any:
    return await _started(m.Flows.static_flow, 2)


@scenario
async def class_workflow(m: ModuleType) -> Any:
    return await _started(m.Flows.class_flow, 2)


@scenario
async def class_workflow_by_id(m: ModuleType) -> Any:
    return await _started("workflow//flows.shapes//Flows.class_flow", 4)


@scenario
async def nested_steps(m: ModuleType) -> Any:
    return await _started(m.closure_flow, 2)


@scenario
async def nested_in_class_workflow(m: ModuleType) -> Any:
    return await _started(m.Nested.flow, 5)


@scenario
async def registered_type(m: ModuleType) -> Any:
    out = await _started(m.money_flow, m.Money(150, "EUR"))
    if "result" in out:
        twice, same_class, paid = out["result"]
        out["result"] = [[twice.cents, twice.currency], type(twice) is m.Money, same_class, paid]
    return out


@scenario
async def register_type_rules(m: ModuleType) -> Any:
    """The same class again under its name: nothing happens; another class: refused."""
    from wdk.runtime.serde import register_type

    register_type(m.Money, lambda x: [x.cents, x.currency], lambda v: m.Money(*v), name="reg:Money")

    class Other:
        pass

    try:
        register_type(Other, lambda x: 0, lambda v: Other(), name="reg:Money")
    except ValueError as exc:
        return {"result": str(exc)}
    return {"result": "accepted"}


@scenario
async def step_refs(m: ModuleType) -> Any:
    return await _started(m.refs_flow, 5)


@scenario
async def step_ref_to_start(m: ModuleType) -> Any:
    return await _started(m.started_with, m.pay, 9)


@scenario
async def method_ref_to_start(m: ModuleType) -> Any:
    return await _started(m.started_with, m.Billing.rate, 2)


@scenario
async def plain_function_refused(m: ModuleType) -> Any:
    return await _started(m.started_with, m.not_a_step, 1)


@scenario
async def classmethod_step_on_a_subclass(m: ModuleType) -> Any:
    return await _started(m.subclass_rate, 1)


@scenario
async def classmethod_workflow_on_a_subclass(m: ModuleType) -> Any:
    return await _started(m.MoreFlows.class_flow, 1)


@scenario
async def classmethod_ref_through_a_subclass(m: ModuleType) -> Any:
    return await _started(m.started_with, m.PremiumBilling.rate, 1)


# --- main -------------------------------------------------------------------------


async def _main(args: argparse.Namespace) -> None:
    if args.mode == "hook":
        import wdk

        wdk.install_import_hook()
    elif args.mode == "build":
        sys.path[:] = [args.build_dir, *(p for p in sys.path if os.path.abspath(p or ".") != HERE)]
    from wdk.api import configure

    if args.data_dir:
        configure(data_dir=args.data_dir)
    import flows.shapes as m

    out: dict[str, Any] = {"__file__": m.__file__, "__mode__": getattr(m, "__wdk_mode__", None)}
    names = args.only.split(",") if args.only else list(SCENARIOS)
    for name in names:
        try:
            out[name] = await SCENARIOS[name](m)
        except Exception:
            out[name] = {"crash": traceback.format_exc()}
    print(json.dumps(out), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--mode", choices=("plain", "hook", "build"), required=True)
    parser.add_argument("--build-dir", default=None, help="the client tree of `wdk build`")
    parser.add_argument("--data-dir", default=None, help="the local world's folder")
    parser.add_argument("--only", default=None, help="comma-separated scenario names")
    asyncio.run(_main(parser.parse_args()))


if __name__ == "__main__":
    main()
