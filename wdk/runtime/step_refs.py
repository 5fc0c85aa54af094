"""Step functions as values: passed to a step or to `start()`, or returned
from a step, a step function crosses the boundary as a reference to its id
(plus, for a step nested in a workflow, the values it captured).

On the other side it arrives as a `StepRef`, which is callable: in a
workflow a call is a durable step (as calling the function itself would
be); anywhere else -- a step, application code -- it runs the step's code
directly, as calling a step function outside a workflow does.

    async def apply(fn, x):
        "use step"
        return await fn(x)            # fn arrived as a StepRef: runs here

    async def flow(x):
        "use workflow"
        return await apply(charge, x)  # `charge` travels as step//shop//charge
"""

from __future__ import annotations

import types
from typing import Any

from wdk.runtime import compiled
from wdk.runtime.current import in_workflow

__all__ = ["StepRef", "describe"]

_UNBOUND: Any = object()


class StepRef:
    """A reference to a step function (its id, captured values, bound `self`)."""

    __slots__ = ("bound", "closure", "step_id")

    def __init__(
        self, step_id: str, closure: dict[str, Any] | None = None, bound: Any = _UNBOUND
    ) -> None:
        self.step_id = step_id
        self.closure = closure
        self.bound = bound

    @property
    def __wdk_step_id__(self) -> str:
        return self.step_id

    def __repr__(self) -> str:
        extra = f", closure={sorted(self.closure)}" if self.closure else ""
        return f"StepRef({self.step_id!r}{extra})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, StepRef) and (other.step_id, other.closure, other.bound) == (
            self.step_id,
            self.closure,
            self.bound,
        )

    def __hash__(self) -> int:
        return hash(self.step_id)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if self.bound is not _UNBOUND:
            args = (self.bound, *args)
        if in_workflow():
            return compiled.step_call(self.step_id, args, kwargs, self.closure)
        return self.function()(*args, **kwargs)

    def function(self) -> Any:
        """The step's code, as the step handler would run it."""
        # The loader brings the compiler (libcst): imported when a reference
        # is resolved, not by every process that merely serializes values.
        from wdk.runtime.loader import default_loader

        return default_loader().step_function(self.step_id, self.closure)


def describe(value: Any) -> tuple[str, dict[str, Any] | None, Any] | None:
    """(step id, captured values or None, bound self or _UNBOUND) of a step
    function value; None when `value` is not a step function. ValueError for
    a classmethod step reached through a subclass."""
    if isinstance(value, StepRef):
        return value.step_id, value.closure, value.bound
    bound: Any = _UNBOUND
    fn = value
    if isinstance(value, types.MethodType):
        fn, owner = value.__func__, value.__self__
        if not isinstance(owner, type):  # an instance method: `self` travels with it
            bound = owner
    from wdk.runtime.loader import default_loader  # see StepRef.function

    step_id = default_loader().step_id_of(fn)
    if step_id is None:
        return None
    owner = getattr(value, "__self__", None)
    defining = step_id.rpartition("//")[2].rpartition(".")[0]
    if isinstance(owner, type) and owner.__qualname__ != defining:
        raise ValueError(
            f"{step_id} is a @classmethod step of {defining}, reached through "
            f"{owner.__qualname__}: its `cls` would be {defining} on the other side"
        )
    closure = None
    if "<locals>" in step_id and isinstance(fn, types.FunctionType):
        cells = fn.__closure__ or ()
        closure = {
            name: cell.cell_contents
            for name, cell in zip(fn.__code__.co_freevars, cells, strict=True)
            if _filled(cell)
        }
    return step_id, closure, bound


def is_bound(bound: Any) -> bool:
    return bound is not _UNBOUND


def _filled(cell: types.CellType) -> bool:
    try:
        cell.cell_contents  # noqa: B018 - an empty cell raises
    except ValueError:
        return False
    return True
