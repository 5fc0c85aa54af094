"""Methods marked "use step": durable steps when a workflow calls them.

A workflow's module runs in the sandbox, but its classes are the real
module's (see `sandbox._share_classes`), so that data crossing between a
workflow and its steps is made of one class. A workflow that calls
`Billing.fee(x)` or `cart.total()` therefore reaches the real class, whose
method is the user's code. `install()` puts a dispatcher in its place in
the real class: called on a workflow's loop it records a durable step (as the
compiled proxy of a function step does); called anywhere else -- the step
handler, application code, a unit test -- it is the method itself.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import types
from collections.abc import Callable, Mapping
from typing import Any

from wdk.errors import SerializationError

__all__ = ["in_workflow", "install", "original"]

_MARK = "__wdk_dispatches__"  # set on a dispatcher: the function it stands for


def in_workflow() -> bool:
    """True when called from workflow code (on a run's deterministic loop)."""
    loop = asyncio._get_running_loop()
    return getattr(loop, "instance", None) is not None


def install(real: types.ModuleType, steps: Mapping[str, str]) -> None:
    """Give every method step of `real`'s classes its dispatcher (idempotent)."""
    for qualname, step_id in steps.items():
        if "<locals>" in qualname or "." not in qualname:
            continue  # function steps are proxied by the compiler itself
        path, _, name = qualname.rpartition(".")
        owner: Any = real
        for part in path.split("."):
            owner = getattr(owner, part, None)
        if not isinstance(owner, type):
            continue
        raw = owner.__dict__.get(name)
        kind = (
            "staticmethod"
            if isinstance(raw, staticmethod)
            else "classmethod"
            if isinstance(raw, classmethod)
            else "instance"
        )
        fn = raw.__func__ if isinstance(raw, (staticmethod, classmethod)) else raw
        if not callable(fn) or hasattr(fn, _MARK):
            continue  # not a plain method (the compiler refuses the rest), or done
        dispatch = _dispatcher(fn, step_id, qualname, kind)
        wrapped = staticmethod(dispatch) if kind == "staticmethod" else (
            classmethod(dispatch) if kind == "classmethod" else dispatch
        )
        setattr(owner, name, wrapped)


def original(obj: Any) -> Any:
    """The user's method behind a dispatcher (bound as `obj` was), else `obj`."""
    if isinstance(obj, types.MethodType):
        fn = getattr(obj.__func__, _MARK, None)
        return obj if fn is None else types.MethodType(fn, obj.__self__)
    fn = getattr(obj, _MARK, None)
    return obj if fn is None else fn


def _dispatcher(
    fn: Callable[..., Any], step_id: str, qualname: str, kind: str
) -> Callable[..., Any]:
    signature = inspect.signature(fn)

    def durable(args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        from wdk.runtime import compiled

        # Bound as the compiled proxy binds: defaults applied, `cls` left to
        # the class on the other side, `self` travelling as the first argument.
        bound = signature.bind(*args, **kwargs)
        bound.apply_defaults()
        positional = bound.args[1:] if kind == "classmethod" else bound.args
        try:
            return compiled.step_call(step_id, positional, bound.kwargs)
        except SerializationError as exc:
            if kind == "instance" and exc.path.startswith("args[0]"):
                raise _self_error(qualname, args[0], exc) from None
            raise

    dispatch: Callable[..., Any]
    if inspect.iscoroutinefunction(fn):

        async def dispatch(*args: Any, **kwargs: Any) -> Any:
            if in_workflow():
                return await durable(args, kwargs)
            return await fn(*args, **kwargs)

    else:

        def dispatch(*args: Any, **kwargs: Any) -> Any:
            if in_workflow():
                return durable(args, kwargs)  # an awaitable, as for a plain `def` step
            return fn(*args, **kwargs)

    functools.update_wrapper(dispatch, fn)
    setattr(dispatch, _MARK, fn)
    setattr(dispatch, "__wdk_step_id__", step_id)  # noqa: B010 - what a step reference carries
    return dispatch


def _self_error(qualname: str, instance: Any, exc: SerializationError) -> SerializationError:
    cls = type(instance).__name__
    path = "self" + exc.path[len("args[0]") :]
    reason = str(exc).replace(f"at {exc.path}", f"at {path}", 1)
    err = SerializationError(
        f"step {qualname} is a method: its `self` crosses the step boundary like an "
        f"argument, but {reason}. Make {cls} a dataclass or a msgspec.Struct, or register it "
        "with register_type(); or make the step a @staticmethod"
    )
    err.path = path
    return err
