"""The classes made serializable with `register_type`, and the cache of
each class's encoder (a registration replaces a kind-based one).
"""

from __future__ import annotations

import sys
import uuid
from collections.abc import Callable
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

__all__ = ["BY_NAME", "ENCODERS", "REGISTERED", "Encoder", "register_type", "type_name"]

Encoder = Callable[[Any, int], Any]

# Types serde writes natively: never registered.
NATIVE: frozenset[type] = frozenset(
    {str, bool, int, float, list, dict, type(None), tuple, set, frozenset, bytes, datetime, date, time,
     timedelta, Decimal, uuid.UUID}
)
# class -> its encoder; filled by wdk.runtime.serde.encode (natively written
# types at import, other classes on first use).
ENCODERS: dict[type, Encoder] = {}
# Registered types: class -> (name, encode); name -> (class, decode).
REGISTERED: dict[type, tuple[str, Callable[[Any], Any]]] = {}
BY_NAME: dict[str, tuple[type, Callable[[Any], Any]]] = {}


def type_name(t: type) -> str:
    return t.__qualname__ if t.__module__ == "builtins" else f"{t.__module__}.{t.__qualname__}"


def register_type(
    cls: type,
    encode: Callable[[Any], Any],
    decode: Callable[[Any], Any],
    *,
    name: str | None = None,
) -> None:
    """Make instances of `cls` (exactly, not subclasses) serializable:
    `encode(obj)` returns any serializable value, `decode(that)` rebuilds obj.
    `name` (default "module:QualName") is what the log stores; a module-level
    call is re-run on decode by importing that module. Registering the same
    class under the same name again does nothing (so does the workflow
    sandbox's run of the module, whose class statement makes a copy); another
    class under a taken name is a ValueError.

    >>> register_type(Money, lambda m: [m.cents, m.currency], lambda v: Money(*v))
    """
    if cls in NATIVE:
        raise ValueError(f"{type_name(cls)} is serialized natively and cannot be registered")
    key = name or f"{cls.__module__}:{cls.__qualname__}"
    other = BY_NAME.get(key)
    if other is not None and other[0] is not cls:
        if _is_copy_of(cls, other[0]):
            return  # the module ran again (the workflow sandbox runs it): keep the original
        raise ValueError(f"serde name {key!r} is already registered for {type_name(other[0])}")
    old = REGISTERED.get(cls)
    if old is not None and old[0] == key:
        return  # the same class under the same name: already done
    if old is not None:
        BY_NAME.pop(old[0], None)
    REGISTERED[cls] = (key, encode)
    BY_NAME[key] = (cls, decode)
    ENCODERS.pop(cls, None)  # drop a cached kind-based encoder


def _is_copy_of(new: type, registered: type) -> bool:
    """`new` is a second run of the class statement that made `registered`:
    the module `new` says it is from holds `registered` under its name (a
    script's module is `__main__` and also its import name)."""
    if new.__qualname__ != registered.__qualname__:
        return False
    found: Any = sys.modules.get(new.__module__)
    for part in new.__qualname__.split("."):
        found = getattr(found, part, None)
    return found is registered
