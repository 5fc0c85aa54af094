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

import functools
import inspect
import types
from collections.abc import Callable, Mapping
from typing import Any

from wdk.errors import SerializationError
from wdk.runtime import compiled
from wdk.runtime.current import in_workflow

__all__ = ["in_workflow", "install", "original"]

_MARK = "__wdk_dispatches__"  # set on a dispatcher: the function it stands for


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
        dispatch = _dispatcher(fn, step_id, qualname, kind, owner)
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
    fn: Callable[..., Any], step_id: str, qualname: str, kind: str, owner: type
) -> Callable[..., Any]:
    signature = inspect.signature(fn)

    def bind(args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[tuple[Any, ...], dict[str, Any]]:
        # As the compiled proxy binds: defaults applied, `cls` left to the
        # class on the other side, `self` travelling as the first argument.
        if kind == "classmethod" and args and args[0] is not owner:
            raise TypeError(
                f"step {qualname} was called on {args[0].__qualname__}, but a @classmethod "
                f"step runs with the class that defines it ({owner.__qualname__}); call it "
                f"on {owner.__qualname__}, or give {args[0].__qualname__} its own step"
            )
        bound = signature.bind(*args, **kwargs)
        bound.apply_defaults()
        return (bound.args[1:] if kind == "classmethod" else bound.args), bound.kwargs

    def refused(exc: SerializationError, args: tuple[Any, ...]) -> SerializationError:
        if kind == "instance" and exc.path.startswith("args[0]"):
            return _self_error(qualname, args[0], exc)
        return exc

    # Each dispatcher calls compiled.step_call itself, as a compiled proxy
    # does: the frames between the workflow's line and the runtime are the
    # same, so the call site the runtime records is the workflow's line.
    dispatch: Callable[..., Any]
    if inspect.iscoroutinefunction(fn):

        async def dispatch(*args: Any, **kwargs: Any) -> Any:
            if not in_workflow():
                return await fn(*args, **kwargs)
            positional, named = bind(args, kwargs)
            try:
                call = compiled.step_call(step_id, positional, named)
            except SerializationError as exc:
                raise refused(exc, args) from None
            return await call

    else:

        def dispatch(*args: Any, **kwargs: Any) -> Any:
            if not in_workflow():
                return fn(*args, **kwargs)
            positional, named = bind(args, kwargs)
            try:
                return compiled.step_call(step_id, positional, named)  # awaitable, as for a `def` step
            except SerializationError as exc:
                raise refused(exc, args) from None

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
