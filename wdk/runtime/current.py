"""What is running right now, found without globals: the workflow run on the
running loop, the step this task executes, the runtime of this event loop.

    inst = current_instance()        # the WorkflowInstance, None outside workflow code
    inst = require_instance("wdk.sleep()")   # or WorkflowSandboxError naming the call
    meta = current_step()            # the running step's StepMetadata, or None
    world = step_world()             # where the running step's streams are written

A workflow run is found through its loop (each run has a WorkflowLoop of its
own); a step through a context variable (steps of many runs share one loop).
"""

from __future__ import annotations

import asyncio
import contextvars
import weakref
from typing import TYPE_CHECKING

from wdk.errors import WorkflowSandboxError
from wdk.runtime.loop import WorkflowLoop

if TYPE_CHECKING:
    from wdk.runtime.engine import Runtime
    from wdk.runtime.instance import WorkflowInstance
    from wdk.runtime.metadata import RunningStep, StepMetadata
    from wdk.worlds.base import World

__all__ = [
    "current_instance",
    "current_runtime",
    "current_step",
    "in_workflow",
    "require_instance",
    "running_step",
    "runtimes",
    "step_world",
]


# --- the workflow run ------------------------------------------------------------------


def current_instance() -> WorkflowInstance | None:
    """The run whose workflow code is executing, or None (a step, a client)."""
    loop = asyncio._get_running_loop()
    return loop.instance if isinstance(loop, WorkflowLoop) else None


def in_workflow() -> bool:
    """True when called from workflow code (on a run's deterministic loop)."""
    return current_instance() is not None


def require_instance(what: str) -> WorkflowInstance:
    """The current run; WorkflowSandboxError saying `what` needs one otherwise."""
    inst = current_instance()
    if inst is None:
        raise WorkflowSandboxError(f"{what} can only be used inside a workflow run")
    return inst


# --- the step ----------------------------------------------------------------------------

# The attempt this context runs: set by `steps.run_attempt` while it runs one
# attempt of a step (one variable for its metadata, world and stream writes).
running_step: contextvars.ContextVar[RunningStep | None] = contextvars.ContextVar(
    "wdk_running_step", default=None
)


def current_step() -> StepMetadata | None:
    """The running step's metadata, or None outside a step."""
    step = running_step.get()
    return None if step is None else step.metadata


def step_world() -> World | None:
    """Where stream writes go: the running step's world, else the loop's
    runtime's; None when there is neither."""
    step = running_step.get()
    if step is not None and step.world is not None:
        return step.world
    rt = current_runtime()
    return rt.world if rt is not None else None


# --- the runtime of this event loop -------------------------------------------------------

# One runtime per event loop (`wdk.runtime.engine.get_runtime` starts and registers it).
runtimes: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Runtime] = weakref.WeakKeyDictionary()


def current_runtime() -> Runtime | None:
    """The running loop's runtime, if one was started (or installed) in it."""
    try:
        return runtimes.get(asyncio.get_running_loop())
    except RuntimeError:
        return None
