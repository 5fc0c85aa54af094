"""Writing values: `to_builtins`, `dumps`, `encode_call`, `encode_error`.

A value that cannot be written fails with a SerializationError naming its
path (`args[1]['items'][3]`): the path is built only while an error unwinds,
so the common case pays nothing for it.
"""

from __future__ import annotations

import base64
import dataclasses
import enum
import sys
import threading
import traceback
import types
import uuid
from collections.abc import Callable
from datetime import date, datetime, time, timedelta, timezone, tzinfo
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import msgspec

from wdk.errors import SerializationError
from wdk.runtime.serde.registry import ENCODERS, REGISTERED, Encoder
from wdk.runtime.serde.registry import type_name as _type_name
from wdk.runtime.step_refs import StepRef, describe, is_bound

__all__ = ["MAX_DEPTH", "TAG", "dumps", "encode_call", "encode_error", "set_max_bytes", "to_builtins"]

TAG = "$wdk"
MAX_DEPTH = 128  # tagging at most doubles JSON depth; msgspec recurses ~1000 deep
_MIN_INT, _MAX_INT = -(2**63), 2**64 - 1  # beyond: tagged, so any JSON reader keeps them exact
_SUPPORTED = (
    "None, bool, int, float, str, bytes, list, tuple, dict, set, frozenset, datetime, date, "
    "time, timedelta, Decimal, UUID, Enum, dataclasses, msgspec.Struct, NamedTuple, "
    "TypedDict, exceptions, step functions"
)
_JSON_ENCODER = msgspec.json.Encoder()
# One argument list, result, hook payload or chunk, serialized (WDK_MAX_PAYLOAD_BYTES;
# the runtime sets it from its settings when it starts).
_LIMIT = [16 << 20]
# No JSON int (at most 20 digits and a sign) or finite float (repr) is longer.
_SCALAR_MAX = 32
# `{"args":[],"kwargs":{}}`: the bytes of an encoded call besides its arguments.
_CALL_OVERHEAD = 24


def set_max_bytes(limit: int) -> None:
    """The payload limit from now on (`Settings.max_payload_bytes`)."""
    _LIMIT[0] = limit


def _check_size(data: Any, root: str, encoded: bytes | None = None) -> None:
    size = len(encoded if encoded is not None else _JSON_ENCODER.encode(data))
    if size > _LIMIT[0]:
        raise _error(
            f"{root} is {size} bytes serialized, over the payload limit of {_LIMIT[0]} bytes "
            "(WDK_MAX_PAYLOAD_BYTES)",
            root,
        )
_ACTIVE = threading.local()  # ids of the exceptions being encoded on this thread


class _Fail(Exception):
    """Raised deep in the encoder. Each container adds its path segment while it
    unwinds, so the happy path never builds a path string."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason
        self.too_deep = False
        # (prefix, suffix, container) per level, innermost first
        self.steps: list[tuple[str, str, object]] = []

    def add(self, prefix: str, suffix: str, container: object) -> None:
        self.steps.append((prefix, suffix, container))

    def to_error(self, root: str) -> SerializationError:
        path, seen = root, dict[int, str]()
        for prefix, suffix, container in reversed(self.steps):
            if self.too_deep and id(container) in seen:
                return _error(
                    f"circular reference: the value at {path} is the same object as the one "
                    f"at {seen[id(container)]}",
                    path,
                )
            seen[id(container)] = path
            path = f"{prefix}{path}{suffix}"
        return _error(self.reason.replace("{path}", path), path)


def _error(message: str, path: str) -> SerializationError:
    # The message names the path itself (mid-sentence), so don't let the
    # constructor append it a second time.
    err = SerializationError(message)
    err.path = path
    return err


def to_builtins(value: Any, path: str = "value") -> Any:
    """JSON-compatible data that `from_builtins` turns back into an equal value of
    the same type; `SerializationError` naming `path` of the offending part.

    >>> to_builtins({"ids": {3}})
    {'ids': {'$wdk': 'set', 'v': [3]}}
    """
    t = type(value)
    if (
        (t is int and _MIN_INT <= value <= _MAX_INT) or t is bool or value is None
        or (t is float and value - value == 0.0)
    ) and _LIMIT[0] >= _SCALAR_MAX:
        return value  # a scalar (most step results): itself, and far under any real limit
    data = _encode_root(_enc, value, path)
    _check_size(data, path)
    return data


def dumps(value: Any, path: str = "value") -> bytes:
    """JSON bytes of `value` (see `to_builtins`)."""
    data = _encode_root(_enc, value, path)
    encoded = _JSON_ENCODER.encode(data)
    _check_size(data, path, encoded)
    return encoded


def _enc(x: Any, depth: int) -> Any:
    t = type(x)
    if t is str or t is bool or x is None:
        return x
    if t is int:
        return x if _MIN_INT <= x <= _MAX_INT else {TAG: "int", "v": str(x)}
    if t is float:
        # x - x is nan exactly for nan and +-inf, which JSON cannot carry.
        return x if x - x == 0.0 else {TAG: "float", "v": repr(x)}
    if t is list:
        return _enc_list(x, depth)
    if t is dict:
        return _enc_dict(x, depth)
    enc = ENCODERS.get(t) or _classify(t)
    return enc(x, depth)


def _enc_items(v: Any, depth: int) -> list[Any]:
    """Elements of a list/tuple; on failure the segment is `[i]`."""
    if depth >= MAX_DEPTH:
        raise _too_deep()
    out: list[Any] = []
    append = out.append
    d = depth + 1
    x = None
    try:
        for x in v:
            t = type(x)
            if (
                t is str
                or t is bool
                or x is None
                or (t is int and _MIN_INT <= x <= _MAX_INT)
                or (t is float and x - x == 0.0)
            ):
                append(x)
            elif t is dict:  # skip _enc's dispatch for the common list-of-records
                append(_enc_dict(x, d))
            else:
                append(_enc(x, d))
    except _Fail as fail:
        # Looked up only on failure: the first identical element fails the same way.
        i = next(i for i, y in enumerate(v) if y is x)
        fail.add("", f"[{i}]", v)
        raise
    return out


_enc_list = _enc_items


def _enc_dict(v: dict[Any, Any], depth: int) -> Any:
    if depth >= MAX_DEPTH:
        raise _too_deep()
    if TAG in v:
        return _enc_map(v, depth)
    out: dict[str, Any] = {}
    d = depth + 1
    k: Any = None
    try:
        for k, x in v.items():
            if type(k) is not str:
                break
            t = type(x)
            if (
                t is str
                or t is bool
                or x is None
                or (t is int and _MIN_INT <= x <= _MAX_INT)
                or (t is float and x - x == 0.0)
            ):
                out[k] = x
            elif t is dict:
                out[k] = _enc_dict(x, d)
            else:
                out[k] = _enc(x, d)
        else:
            return out
    except _Fail as fail:
        fail.add("", f"[{k!r}]", v)
        raise
    return _enc_map(v, depth)  # a non-str key: the tagged form keeps every key


def _enc_map(v: dict[Any, Any], depth: int) -> Any:
    pairs: list[list[Any]] = []
    d = depth + 1
    for i, (k, x) in enumerate(v.items()):
        try:
            ek = _enc(k, d)
        except _Fail as fail:
            fail.add("list(", f".keys())[{i}]", v)
            raise
        try:
            pairs.append([ek, _enc(x, d)])
        except _Fail as fail:
            fail.add("", f"[{k!r}]", v)
            raise
    return {TAG: "dict", "v": pairs}


def _too_deep() -> _Fail:
    fail = _Fail(f"value nested more than {MAX_DEPTH} levels deep at {{path}}")
    fail.too_deep = True
    return fail


def _enc_tuple(v: tuple[Any, ...], depth: int) -> Any:
    return {TAG: "tuple", "v": _enc_items(v, depth)}


def _set_encoder(tag: str) -> Encoder:
    def enc(v: Any, depth: int) -> Any:
        if depth >= MAX_DEPTH:
            raise _too_deep()
        try:  # sorted when possible, so equal sets encode to equal bytes
            items, how = sorted(v), "sorted("
        except TypeError:
            items, how = list(v), "list("
        out = []
        for i, x in enumerate(items):
            try:
                out.append(_enc(x, depth + 1))
            except _Fail as fail:
                fail.add(how, f")[{i}]", v)
                raise
        return {TAG: tag, "v": out}

    return enc


def _tz_fields(tz: tzinfo | None, value: Any) -> dict[str, Any]:
    """How a tzinfo is kept beside the ISO text: ZoneInfo by key; a fixed offset
    lives in the ISO text, plus its name when it has a custom one."""
    if tz is None:
        return {}
    if type(tz) is ZoneInfo and tz.key is not None:
        return {"zone": tz.key}
    if type(tz) is timezone:
        name = tz.tzname(None)
        offset = tz.utcoffset(None)
        if name != timezone(offset).tzname(None):
            return {"tzname": name}
        return {}
    raise _Fail(
        f"cannot serialize a {type(value).__name__} with tzinfo of type "
        f"{_type_name(type(tz))} at {{path}}; use datetime.timezone or zoneinfo.ZoneInfo"
    )


def _time_encoder(tag: str) -> Encoder:
    """datetime and time: ISO text (wall time when the zone is kept by key)."""

    def enc(v: Any, depth: int) -> Any:
        extra = _tz_fields(v.tzinfo, v)
        text = v.replace(tzinfo=None).isoformat() if "zone" in extra else v.isoformat()
        return {TAG: tag, "v": text, **extra, **({"fold": 1} if v.fold else {})}

    return enc


ENCODERS.update({
    tuple: _enc_tuple,
    set: _set_encoder("set"),
    frozenset: _set_encoder("frozenset"),
    bytes: lambda v, d: {TAG: "bytes", "v": base64.b64encode(v).decode("ascii")},
    datetime: _time_encoder("datetime"),
    date: lambda v, d: {TAG: "date", "v": v.isoformat()},
    time: _time_encoder("time"),
    timedelta: lambda v, d: {TAG: "timedelta", "v": [v.days, v.seconds, v.microseconds]},
    Decimal: lambda v, d: {TAG: "decimal", "v": str(v)},
    uuid.UUID: lambda v, d: {TAG: "uuid", "v": str(v)},
})


def _classify(t: type) -> Encoder:
    """Find (and cache) the encoder for a class that is not a builtin."""
    reg = REGISTERED.get(t)
    if reg is not None:
        enc = _custom_encoder(t, *reg)
    elif issubclass(t, BaseException):
        enc = _enc_exception
    elif issubclass(t, enum.Enum):
        enc = _enum_encoder(_class_ref(t))
    elif issubclass(t, msgspec.Struct):
        enc = _struct_encoder(_class_ref(t), t.__struct_fields__)
    elif dataclasses.is_dataclass(t):
        enc = _struct_encoder(
            _class_ref(t), tuple(f.name for f in dataclasses.fields(t)), "dataclass"
        )
    elif issubclass(t, tuple) and hasattr(t, "_fields") and hasattr(t, "_make"):
        enc = _namedtuple_encoder(_class_ref(t), t._fields)
    elif t in _FUNCTION_TYPES or t is StepRef:
        enc = _enc_step_ref
    else:
        raise _Fail(
            f"cannot serialize a value of type {_type_name(t)} at {{path}}; supported: "
            f"{_SUPPORTED}; or register it with wdk.runtime.serde.register_type()"
        )
    ENCODERS[t] = enc
    return enc


def _class_ref(t: type) -> str:
    """'module:QualName', checked to lead back to `t` (without importing anything)."""
    if "<locals>" in t.__qualname__:
        raise _Fail(
            f"cannot serialize an instance of {_type_name(t)} at {{path}}: a class defined "
            f"inside a function cannot be re-imported to decode it; define "
            f"{t.__name__} at module level"
        )
    found: Any = sys.modules.get(t.__module__)
    for part in t.__qualname__.split("."):
        found = getattr(found, part, None)
    if found is not t:
        raise _Fail(
            f"cannot serialize an instance of {_type_name(t)} at {{path}}: the class is not "
            f"importable as {t.__module__}:{t.__qualname__}; define it at module level"
        )
    return f"{t.__module__}:{t.__qualname__}"


def _custom_encoder(t: type, name: str, encode: Callable[[Any], Any]) -> Encoder:
    def enc(v: Any, depth: int) -> Any:
        if depth >= MAX_DEPTH:
            raise _too_deep()
        try:
            raw = encode(v)
        except Exception as exc:
            raise _Fail(
                f"the register_type() encoder of {_type_name(t)} failed at {{path}}: {exc!r}"
            ) from exc
        return {TAG: "custom", "cls": name, "v": _enc(raw, depth + 1)}

    return enc


def _enum_encoder(ref: str) -> Encoder:
    def enc(v: Any, depth: int) -> Any:
        try:
            return {TAG: "enum", "cls": ref, "v": _enc(v.value, depth + 1)}
        except _Fail as fail:
            fail.add("", ".value", v)
            raise

    return enc


def _struct_encoder(ref: str, names: tuple[str, ...], tag: str = "struct") -> Encoder:
    """Dataclasses and msgspec Structs: field name -> encoded attribute."""

    def enc(v: Any, depth: int) -> Any:
        if depth >= MAX_DEPTH:
            raise _too_deep()
        out = {}
        name = ""
        try:
            for name in names:
                out[name] = _enc(getattr(v, name), depth + 1)
        except _Fail as fail:
            fail.add("", f".{name}", v)
            raise
        return {TAG: tag, "cls": ref, "v": out}

    return enc


def _namedtuple_encoder(ref: str, names: tuple[str, ...]) -> Encoder:
    def enc(v: Any, depth: int) -> Any:
        if depth >= MAX_DEPTH:
            raise _too_deep()
        out = []
        for name, x in zip(names, v, strict=True):
            try:
                out.append(_enc(x, depth + 1))
            except _Fail as fail:
                fail.add("", f".{name}", v)
                raise
        return {TAG: "namedtuple", "cls": ref, "v": out}

    return enc


_FUNCTION_TYPES = (types.FunctionType, types.MethodType)


def _enc_step_ref(v: Any, depth: int) -> Any:
    """A step function: a reference to its id (wdk.runtime.step_refs)."""
    if depth >= MAX_DEPTH:
        raise _too_deep()
    try:
        found = describe(v)
    except ValueError as exc:
        raise _Fail(f"cannot serialize the step function at {{path}}: {exc}") from None
    if found is None:
        name = getattr(v, "__qualname__", type(v).__name__)
        raise _Fail(
            f"cannot serialize the function {name} at {{path}}: only functions marked "
            '"use step" can be passed, as references to the step'
        )
    step_id, closure, bound = found
    out: dict[str, Any] = {TAG: "step", "v": step_id}
    if closure is not None:
        try:
            out["closure"] = _enc_dict(closure, depth + 1)
        except _Fail as fail:
            fail.add("inspect.getclosurevars(", ").nonlocals", v)
            raise
    if is_bound(bound):
        try:
            out["self"] = _enc(bound, depth + 1)
        except _Fail as fail:
            fail.add("", ".__self__", v)
            raise
    return out


def _enc_exception(v: BaseException, depth: int) -> Any:
    return {TAG: "exception", "v": _encode_error(v, depth, strict=True)}


def encode_call(
    args: tuple[Any, ...], kwargs: dict[str, Any], closure: dict[str, Any] | None = None
) -> dict[str, Any]:
    """{"args": [...], "kwargs": {...}} (+ "closure"), with error paths such as
    `args[1]['items'][3]` or `kwargs['user'].address`."""
    if not kwargs and closure is None:
        # Positional scalars and strings only (most calls): each is its own
        # encoding, and a bound on their JSON size (a str: at most 6 bytes a
        # character, escaped) spares encoding them to check it.
        size = _CALL_OVERHEAD
        for x in args:
            t = type(x)
            if t is str:
                size += 6 * len(x) + 3
            elif t is bool or x is None or (t is int and _MIN_INT <= x <= _MAX_INT) or (t is float and x - x == 0.0):
                size += _SCALAR_MAX + 1
            else:
                break
        else:
            if size <= _LIMIT[0]:
                return {"args": list(args), "kwargs": {}}
    # Encoded as whole containers so that the paths cost nothing until an error.
    out: dict[str, Any] = {
        "args": _encode_root(_enc_items, args, "args"),
        # No keyword arguments (most calls): nothing to encode.
        "kwargs": _encode_root(_enc_dict, kwargs, "kwargs") if kwargs else {},
    }
    if closure is not None:
        out["closure"] = _encode_root(_enc_dict, closure, "closure")
    _check_size(out, "the arguments")
    return out


def _encode_root(enc: Encoder, value: Any, root: str) -> Any:
    try:
        return enc(value, 0)
    except _Fail as fail:
        raise fail.to_error(root) from None
    except RecursionError:
        raise _error(f"value at {root} is nested too deeply to serialize", root) from None


# --- exceptions -------------------------------------------------------------------


def encode_error(exc: BaseException) -> dict[str, Any]:
    """A step's (or any) exception as data: type, message, traceback text, args
    (None when they are not serializable) and the serializable instance attrs."""
    try:
        return _encode_error(exc, 0, strict=False)
    except _Fail as fail:  # only an exception that contains itself gets here
        raise fail.to_error("exc") from None


def _encode_error(exc: BaseException, depth: int, *, strict: bool) -> dict[str, Any]:
    """`strict` (an exception inside a value): unserializable args are an error
    with a path; else they become None, so a step's failure is always recorded."""
    active = _ACTIVE.__dict__.setdefault("ids", set())
    if id(exc) in active:
        raise _Fail("circular reference: an exception contains itself at {path}")
    active.add(id(exc))
    try:
        try:
            args = _enc_items(exc.args, depth + 1)
        except _Fail as fail:
            if strict:
                fail.add("", ".args", exc)
                raise
            args = None
        attrs = {}
        for key, val in vars(exc).items():
            if key.startswith("__"):  # __notes__, __wdk_traceback__
                continue
            try:
                attrs[key] = _enc(val, depth + 1)
            except _Fail:
                pass  # attrs are extras (a response object, a connection...)
    finally:
        active.discard(id(exc))
    out: dict[str, Any] = {
        "type": _type_name(type(exc)),
        "message": str(exc),
        "traceback": "".join(traceback.format_exception(exc)),
        "args": args,
    }
    if attrs:
        out["attrs"] = attrs
    return out
