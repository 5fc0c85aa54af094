"""Reading values back: `from_builtins`, `loads`, `decode_call`, `decode_error`.

A tagged class is re-imported by its `module:QualName` reference, and only
when it is of the kind the tag says (a dataclass, an Enum...): data cannot
make the decoder call anything else. Data from a request (`untrusted()`)
cannot even import: it resolves only classes whose module is already loaded
and types already registered, since importing a module runs its code.
"""

from __future__ import annotations

import base64
import contextlib
import contextvars
import dataclasses
import enum
import importlib
import sys
import uuid
from collections.abc import Callable, Iterator
from datetime import date, datetime, time, timedelta, timezone
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import msgspec

from wdk.errors import SerializationError, StepError
from wdk.runtime.serde.encode import TAG
from wdk.runtime.serde.registry import BY_NAME
from wdk.runtime.step_refs import StepRef

__all__ = ["decode_call", "decode_error", "from_builtins", "loads", "untrusted"]

# False while decoding data from a request: never import a module it names.
_IMPORTS: contextvars.ContextVar[bool] = contextvars.ContextVar("wdk_serde_imports", default=True)


@contextlib.contextmanager
def untrusted() -> Iterator[None]:
    """Decode without importing anything: for values that came from a request.

        with untrusted():
            value = from_builtins(data)     # a class of an unloaded module: SerializationError
    """
    reset = _IMPORTS.set(False)
    try:
        yield
    finally:
        _IMPORTS.reset(reset)


def _import(name: str) -> Any:
    """The loaded module `name`; imported only when decoding trusted data."""
    module = sys.modules.get(name)
    if module is not None:
        return module
    if not _IMPORTS.get():
        raise ImportError(f"module {name!r} is not loaded here (data from a request never imports)")
    return importlib.import_module(name)

_JSON_DECODER = msgspec.json.Decoder()
_TAG_BYTES = b'"$wdk"'


def loads(data: bytes | str) -> Any:
    """The value `dumps` wrote."""
    if isinstance(data, str):
        data = data.encode()
    value = _JSON_DECODER.decode(data)
    # Without the tag's bytes nothing is tagged: the decoded JSON is the value.
    return value if _TAG_BYTES not in data else from_builtins(value)


def from_builtins(data: Any) -> Any:
    """The value that `to_builtins` encoded as `data`."""
    t = type(data)
    if t is int or t is str or t is float or t is bool or data is None:
        return data  # a scalar decodes to itself (most step results)
    try:
        return _dec(data)
    except SerializationError:
        raise
    except (RecursionError, KeyError, TypeError, ValueError, AttributeError) as exc:
        raise SerializationError(f"malformed wdk data: {exc!r}") from exc


def _dec(x: Any) -> Any:
    t = type(x)
    if t is list:
        return _dec_list(x)
    if t is dict:
        if TAG in x:
            dec = _DECODERS.get(x[TAG])
            if dec is None:
                raise SerializationError(f"unknown wdk tag {x[TAG]!r}")
            return dec(x["v"], x)
        return {
            k: v
            if (t := type(v)) is str or t is int or t is float or t is bool or v is None
            else _dec(v)
            for k, v in x.items()
        }
    return x


def _dec_list(x: list[Any]) -> list[Any]:
    return [
        y if (t := type(y)) is str or t is int or t is float or t is bool or y is None else _dec(y)
        for y in x
    ]


_CLASSES: dict[tuple[str, str], type] = {}  # (kind, ref) -> class that passed the check


def _resolve_class(ref: str, kind: str, ok: Callable[[type], bool]) -> Any:
    cls = _CLASSES.get((kind, ref))
    if cls is None:
        module_name, _, qualname = ref.partition(":")
        try:
            # __main__ classes decode in the process that defined them.
            module = _import(module_name)
            found: Any = module
            for part in qualname.split("."):
                found = getattr(found, part)
        except (ImportError, AttributeError) as exc:
            raise SerializationError(f"cannot decode {kind} {ref}: {exc}") from exc
        if not (isinstance(found, type) and ok(found)):
            raise SerializationError(f"refusing to decode {ref}: it is not a {kind}")
        cls = _CLASSES[kind, ref] = found
    return cls


def _dec_dataclass(v: Any, node: dict[str, Any]) -> Any:
    cls = _resolve_class(node["cls"], "dataclass", dataclasses.is_dataclass)
    values = _dec(v)
    # Restore the stored state without re-running __init__/__post_init__ (which
    # may need InitVars or not be idempotent); fields added since get defaults.
    obj = cls.__new__(cls)
    for f in dataclasses.fields(cls):
        if f.name in values:
            object.__setattr__(obj, f.name, values.pop(f.name))
        elif f.default is not dataclasses.MISSING:
            object.__setattr__(obj, f.name, f.default)
        elif f.default_factory is not dataclasses.MISSING:
            object.__setattr__(obj, f.name, f.default_factory())
        else:
            raise SerializationError(f"cannot decode {node['cls']}: field {f.name!r} is missing")
    if values:
        raise SerializationError(f"cannot decode {node['cls']}: unknown fields {sorted(values)}")
    return obj


def _dec_struct(v: Any, node: dict[str, Any]) -> Any:
    cls = _resolve_class(node["cls"], "msgspec.Struct", lambda c: issubclass(c, msgspec.Struct))
    return cls(**_dec(v))


def _dec_enum(v: Any, node: dict[str, Any]) -> Any:
    cls = _resolve_class(node["cls"], "Enum", lambda c: issubclass(c, enum.Enum))
    return cls(_dec(v))


def _dec_namedtuple(v: Any, node: dict[str, Any]) -> Any:
    cls = _resolve_class(
        node["cls"], "NamedTuple", lambda c: issubclass(c, tuple) and hasattr(c, "_make")
    )
    return cls._make(_dec_list(v))


def _dec_custom(v: Any, node: dict[str, Any]) -> Any:
    name = node["cls"]
    entry = BY_NAME.get(name)
    if entry is None and ":" in name:
        # The default name is "module:QualName": importing the module runs its
        # register_type() call in a process that has not imported it yet.
        try:
            _import(name.partition(":")[0])
        except ImportError:
            pass
        entry = BY_NAME.get(name)
    if entry is None:
        raise SerializationError(f"cannot decode {name}: no type is registered under that name")
    return entry[1](_dec(v))


def _dec_time_like(parse: Callable[[str], Any]) -> Callable[[Any, dict[str, Any]], Any]:
    def dec(v: Any, node: dict[str, Any]) -> Any:
        value = parse(v)
        if "zone" in node:
            value = value.replace(tzinfo=ZoneInfo(node["zone"]))
        elif "tzname" in node:
            value = value.replace(tzinfo=timezone(value.utcoffset(), node["tzname"]))
        return value.replace(fold=1) if node.get("fold") else value

    return dec


def _dec_dict(v: Any, node: dict[str, Any]) -> Any:
    return {_dec(k): _dec(x) for k, x in v}


def _dec_step_ref(v: Any, node: dict[str, Any]) -> Any:
    if not isinstance(v, str):
        raise SerializationError(f"malformed step reference {v!r}")
    ref = StepRef(v, _dec(node["closure"]) if "closure" in node else None)
    if "self" in node:
        ref.bound = _dec(node["self"])
    return ref


def _dec_encrypted(v: Any, node: dict[str, Any]) -> Any:
    raise SerializationError(
        f"this value is encrypted with key {node.get('k')!r}: set WDK_ENCRYPTION_KEYS to a ring "
        "that has it (pip install 'wdk[crypto]')"
    )


_DECODERS: dict[str, Callable[[Any, dict[str, Any]], Any]] = {
    "encrypted": _dec_encrypted,
    "tuple": lambda v, n: tuple(_dec_list(v)),
    "set": lambda v, n: set(_dec_list(v)),
    "frozenset": lambda v, n: frozenset(_dec_list(v)),
    "dict": _dec_dict,
    "int": lambda v, n: int(v),
    "float": lambda v, n: float(v),
    "bytes": lambda v, n: base64.b64decode(v),
    "datetime": _dec_time_like(datetime.fromisoformat),
    "date": lambda v, n: date.fromisoformat(v),
    "time": _dec_time_like(time.fromisoformat),
    "timedelta": lambda v, n: timedelta(days=v[0], seconds=v[1], microseconds=v[2]),
    "decimal": lambda v, n: Decimal(v),
    "uuid": lambda v, n: uuid.UUID(v),
    "enum": _dec_enum,
    "dataclass": _dec_dataclass,
    "struct": _dec_struct,
    "namedtuple": _dec_namedtuple,
    "exception": lambda v, n: decode_error(v),
    "custom": _dec_custom,
    "step": _dec_step_ref,
}


def decode_call(
    data: dict[str, Any],
) -> tuple[tuple[Any, ...], dict[str, Any], dict[str, Any] | None]:
    """(args, kwargs, closure) from `encode_call`'s data."""
    if TAG in data:  # sealed (wdk.crypto) and no key to open it: say so
        from_builtins(data)
    closure = data.get("closure")
    kwargs = data.get("kwargs")
    args = data.get("args", [])
    if type(args) is list:
        # Scalars only (most calls): each decodes to itself, so the list is
        # what from_builtins would give; anything else goes through it.
        for y in args:
            if not ((t := type(y)) is str or t is int or t is float or t is bool or y is None):
                args = from_builtins(args)
                break
    else:  # malformed: from_builtins says how
        args = from_builtins(args)
    return (
        tuple(args),
        from_builtins(kwargs) if kwargs else {},  # none (most calls): a new empty dict
        None if closure is None else from_builtins(closure),
    )


# --- exceptions -------------------------------------------------------------------


def decode_error(data: dict[str, Any]) -> BaseException:
    """Rebuild the original exception type when it imports and constructs from
    its args, else a `StepError(type, message, traceback)`. Either way the remote
    traceback text is kept as `__wdk_traceback__` and shown as a note."""
    type_name, message = data.get("type", "Exception"), data.get("message", "")
    tb_text = data.get("traceback", "")
    exc = _rebuild_error(type_name, data.get("args"), data.get("attrs") or {})
    if exc is None:
        exc = StepError(type_name, message, tb_text)
    exc.__wdk_traceback__ = tb_text  # type: ignore[attr-defined]
    if tb_text:
        exc.add_note(
            f"--- the error was raised remotely; its traceback there ---\n{tb_text.rstrip()}"
        )
    return exc


def _rebuild_error(type_name: str, args: Any, attrs: dict[str, Any]) -> BaseException | None:
    cls = _import_dotted(type_name)
    if not (isinstance(cls, type) and issubclass(cls, BaseException)) or args is None:
        return None
    try:
        values = {k: from_builtins(v) for k, v in attrs.items()}
        if cls is StepError:  # its args are one joined string; its attrs hold the parts
            return StepError(
                values["type_name"], values["message"], values.get("traceback_text", "")
            )
        exc = cls(*[from_builtins(a) for a in args])
        for key, val in values.items():
            setattr(exc, key, val)
    except Exception:  # e.g. an __init__ that needs keyword arguments
        return None
    return exc


def _import_dotted(name: str) -> Any:
    """The object a dotted 'module.Qual.Name' refers to, or None."""
    parts = name.split(".")
    if len(parts) == 1:
        parts = ["builtins", *parts]
    for cut in range(len(parts) - 1, 0, -1):
        try:
            module = _import(".".join(parts[:cut]))
        except Exception:
            continue
        found: Any = module
        for part in parts[cut:]:
            found = getattr(found, part, None)
        if found is not None:
            return found
    return None
