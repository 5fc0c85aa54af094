"""What compiled code calls. The compiler's three modes emit references to
this module only, under the name `__wdk__`, so this is the whole contract
between generated code and the runtime:

* every compiled module ends with one added line
  `import wdk.runtime.compiled as __wdk__; __wdk__.register(globals(), MODE, {qualname: workflow_id}, {qualname: step_id})`
* client and step mode put on a workflow's first body statement line
  `"use workflow"; __wdk__.workflow_called_directly("workflow//mod//qual")`
  (the rest of the body stays, never reached: every line keeps its number,
  and the code objects of steps nested in the workflow stay in its code)
* in workflow mode, `register` also keeps the module's workflow functions
  (`__wdk_functions__`, raw class attributes for methods) and makes the
  real module's method steps dispatch (wdk.runtime.methods)
* workflow mode replaces a step's first body statement line with
  `"use step"; return await __wdk__.step_call(ID, (positional...), {keyword...}[, {captured...}])`
  (`return __wdk__.step_call(...)` for a plain `def` step).
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable, Callable
from typing import Any, NoReturn

from wdk.errors import WorkflowCalledDirectly
from wdk.runtime import methods
from wdk.runtime.loop import WorkflowLoop

__all__ = [
    "WorkflowCalledDirectly",
    "register",
    "set_step_caller",
    "step_call",
    "workflow_called_directly",
]

StepCaller = Callable[[str, tuple[Any, ...], dict[str, Any], dict[str, Any] | None], Awaitable[Any]]

_step_caller: StepCaller | None = None


def set_step_caller(caller: StepCaller | None) -> None:
    """Stand in for the runtime (tests run compiled workflow code without one);
    None restores it. Normally a step call goes to the current run."""
    global _step_caller
    _step_caller = caller


def workflow_called_directly(workflow_id: str) -> NoReturn:
    """What a workflow's body does outside the runtime (client and step mode)."""
    raise WorkflowCalledDirectly(workflow_id)


def step_call(
    step_id: str,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    closure: dict[str, Any] | None = None,
) -> Awaitable[Any]:
    if _step_caller is not None:
        return _step_caller(step_id, args, kwargs, closure)
    loop = asyncio._get_running_loop()  # current_instance(), inlined: once per step call
    inst = loop.instance if isinstance(loop, WorkflowLoop) else None
    if inst is None:
        raise RuntimeError(f"{step_id} was called from workflow-mode code outside a workflow run")
    # The run records the call (a durable step) and resolves the future from the log.
    return inst.call_step(step_id, args, kwargs, closure)


def _resolve(namespace: dict[str, Any], qualname: str) -> tuple[Any, Any, str] | None:
    """(owner, raw attribute, last name) for a dotted qualname; None if absent or nested."""
    if "<locals>" in qualname:
        return None
    parts = qualname.split(".")
    owner: Any = None
    obj: Any = namespace.get(parts[0])
    for part in parts[1:]:
        owner = obj
        obj = getattr(obj, "__dict__", {}).get(part)
        if obj is None:
            return None
    return owner, obj, parts[-1]


def _underlying(obj: Any) -> Any:
    return obj.__func__ if isinstance(obj, (staticmethod, classmethod)) else obj


def register(
    namespace: dict[str, Any],
    mode: str,
    workflows: dict[str, str],
    steps: dict[str, str],
) -> None:
    """Tag compiled functions with their ids (`__wdk_workflow_id__`,
    `__wdk_step_id__`) and record the module's ids for the runtime."""
    for attr, table in (("__wdk_workflow_id__", workflows), ("__wdk_step_id__", steps)):
        for qualname, fn_id in table.items():
            found = _resolve(namespace, qualname)
            if found is None:
                continue
            fn = _underlying(found[1])
            try:
                setattr(fn, attr, fn_id)
            except (AttributeError, TypeError):  # a decorator returned something frozen
                pass
    namespace["__wdk_mode__"] = mode
    namespace["__wdk_workflows__"] = dict(workflows)
    namespace["__wdk_steps__"] = dict(steps)
    if mode == "workflow":
        # Kept before the sandbox swaps its classes for the real module's:
        # a workflow held by a class must run as the sandbox compiled it.
        namespace["__wdk_functions__"] = {
            qualname: found[1]
            for qualname in workflows
            if (found := _resolve(namespace, qualname)) is not None
        }
        # The sandbox shares the real module's classes: their method steps
        # must record a step when workflow code calls them.
        real = sys.modules.get(str(namespace.get("__name__")))
        if real is not None and real.__dict__ is not namespace:
            methods.install(real, steps)
