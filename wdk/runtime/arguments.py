"""Checking a run's arguments against its workflow's signature.

`start()` checks before anything is written, so a call that could never begin
fails where it is made (a TypeError, HTTP 400, a one-line CLI error) instead of
leaving a run that no worker can start. A run that was written anyway (an
older client, a signature changed by a deploy) fails with the same message
when a worker tries to begin it.
"""

from __future__ import annotations

import inspect
import weakref
from collections.abc import Callable, Mapping, Sequence
from typing import Any

__all__ = ["check_arguments"]

# Signatures by function, with how many positional arguments fit a signature
# of positional parameters only (None for any other): building a signature
# costs more than the rest of a start(), and binding one (~20k instructions)
# more than the rest of a start's checks. Weak keys: a reloaded module's old
# functions are not kept alive.
_signatures: weakref.WeakKeyDictionary[Callable[..., Any], tuple[inspect.Signature, tuple[int, int] | None]] = (
    weakref.WeakKeyDictionary()
)
_POSITIONAL = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)


def check_arguments(fn: Callable[..., Any], args: Sequence[Any], kwargs: Mapping[str, Any]) -> None:
    """TypeError naming the signature unless `fn(*args, **kwargs)` would bind.

    >>> check_arguments(process_order, ("o3",), {})
    TypeError: process_order(order_id, qty): missing a required argument: 'qty'
    """
    known = _signatures.get(fn)
    if known is None:
        try:
            signature = inspect.signature(fn)
        except (TypeError, ValueError):  # not introspectable: calling it will tell
            return
        known = signature, _positional_counts(signature)
        try:
            _signatures[fn] = known
        except TypeError:  # not weakly referenceable
            pass
    signature, counts = known
    # Positional arguments for positional parameters (most starts): they bind
    # when there are enough for the parameters without defaults and no more
    # than there are parameters. Anything else (or a misfit) binds, for its error.
    if counts is not None and not kwargs and counts[0] <= len(args) <= counts[1]:
        return
    try:
        signature.bind(*args, **kwargs)
    except TypeError as exc:
        raise TypeError(f"{describe(fn, signature)}: {exc}") from None


def _positional_counts(signature: inspect.Signature) -> tuple[int, int] | None:
    """(required, all) of a signature whose parameters are all positional; else None."""
    params = signature.parameters.values()
    if any(p.kind not in _POSITIONAL for p in params):
        return None
    return sum(p.default is p.empty for p in params), len(params)


def describe(fn: Callable[..., Any], signature: inspect.Signature | None = None) -> str:
    """`process_order(order_id, qty=1)`: the name and parameters, without
    annotations (under `from __future__ import annotations` they are strings)."""
    signature = signature or inspect.signature(fn)
    bare = signature.replace(
        parameters=[p.replace(annotation=p.empty) for p in signature.parameters.values()],
        return_annotation=signature.empty,
    )
    name = getattr(fn, "__qualname__", None) or getattr(fn, "__name__", None) or repr(fn)
    return f"{name}{bare}"
