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

# Signatures by function: building one costs more than the rest of a start().
# Weak keys: a reloaded module's old functions are not kept alive.
_signatures: weakref.WeakKeyDictionary[Callable[..., Any], inspect.Signature] = weakref.WeakKeyDictionary()


def check_arguments(fn: Callable[..., Any], args: Sequence[Any], kwargs: Mapping[str, Any]) -> None:
    """TypeError naming the signature unless `fn(*args, **kwargs)` would bind.

    >>> check_arguments(process_order, ("o3",), {})
    TypeError: process_order(order_id, qty): missing a required argument: 'qty'
    """
    signature = _signatures.get(fn)
    if signature is None:
        try:
            signature = inspect.signature(fn)
        except (TypeError, ValueError):  # not introspectable: calling it will tell
            return
        try:
            _signatures[fn] = signature
        except TypeError:  # not weakly referenceable
            pass
    try:
        signature.bind(*args, **kwargs)
    except TypeError as exc:
        raise TypeError(f"{describe(fn, signature)}: {exc}") from None


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
