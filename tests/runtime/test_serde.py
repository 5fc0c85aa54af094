"""wdk.runtime.serde: every supported type (docs/serialization.md) round-trips with its type; anything
else fails with a SerializationError that names the path."""

from __future__ import annotations

import dataclasses
import math
import socket
import sys
import uuid
from dataclasses import InitVar, dataclass, field
from datetime import UTC, date, datetime, time, timedelta, timezone, tzinfo
from decimal import Decimal
from enum import Enum, Flag, IntEnum, StrEnum
from typing import Any, NamedTuple, TypedDict
from zoneinfo import ZoneInfo

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from wdk.errors import RetryableError, SerializationError, StepError
from wdk.runtime.serde import (
    MAX_DEPTH,
    decode_call,
    decode_error,
    dumps,
    encode_call,
    encode_error,
    from_builtins,
    loads,
    register_type,
    to_builtins,
)

# --- module-level types (importable, as the serde requires) -----------------------


@dataclass
class Address:
    street: str
    city: str


@dataclass
class User:
    name: str
    address: Address
    tags: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Point:
    x: Any
    y: Any


@dataclass
class WithInitVar:
    a: int
    b: InitVar[int]
    c: int = field(init=False)

    def __post_init__(self, b: int) -> None:
        self.c = self.a + b


@dataclass
class Versioned:
    a: int
    added: int = 7


class Item(msgspec.Struct):
    name: str
    qty: Any = 1


class Pair(NamedTuple):
    left: Any
    right: Any


class Color(Enum):
    RED = "red"
    PAIR = (1, 2)


class Level(IntEnum):
    LOW = 1
    HIGH = 2


class Mode(StrEnum):
    FAST = "fast"


class Perm(Flag):
    R = 1
    W = 2
    X = 4


class Movie(TypedDict):
    title: str
    year: int


class Money:
    def __init__(self, cents: int, currency: str) -> None:
        self.cents, self.currency = cents, currency

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Money) and (self.cents, self.currency) == (
            other.cents,
            other.currency,
        )

    def __hash__(self) -> int:
        return hash((self.cents, self.currency))


register_type(Money, lambda m: (m.cents, m.currency), lambda v: Money(*v), name="test.Money")


class Broken:
    pass


register_type(Broken, lambda b: 1 / 0, lambda v: Broken())


class CodeError(Exception):
    def __init__(self, message: str, code: int) -> None:
        super().__init__(message, code)
        self.code = code


class KwOnlyError(Exception):
    def __init__(self, *, code: int) -> None:
        super().__init__(f"code {code}")
        self.code = code


class Fixed(tzinfo):
    def utcoffset(self, dt: datetime | None) -> timedelta:
        return timedelta(hours=1)

    def dst(self, dt: datetime | None) -> timedelta:
        return timedelta(0)

    def tzname(self, dt: datetime | None) -> str:
        return "FIXED"


# --- helpers --------------------------------------------------------------------


def same(a: Any, b: Any) -> bool:
    """Equal value AND equal type, all the way down (nan equals nan, -0.0 != 0.0)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, float):
        return (math.isnan(a) and math.isnan(b)) or (
            a == b and math.copysign(1, a) == math.copysign(1, b)
        )
    if isinstance(a, Decimal):
        return str(a) == str(b)
    if isinstance(a, datetime | time):
        return (a.isoformat(), a.fold, repr(a.tzinfo)) == (b.isoformat(), b.fold, repr(b.tzinfo))
    if isinstance(a, list | tuple):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict):
        return list(a) == list(b) and all(same(a[k], b[k]) for k in a)
    if dataclasses.is_dataclass(a):
        return all(same(getattr(a, f.name), getattr(b, f.name)) for f in dataclasses.fields(a))
    if isinstance(a, msgspec.Struct):
        return all(same(getattr(a, f), getattr(b, f)) for f in a.__struct_fields__)
    return bool(a == b)


def round_trip(value: Any) -> Any:
    via_builtins = from_builtins(to_builtins(value))
    via_bytes = loads(dumps(value))
    assert same(via_builtins, value), (via_builtins, value)
    assert same(via_bytes, value), (via_bytes, value)
    return via_bytes


# --- one test per type ------------------------------------------------------------

VALUES = [
    None,
    True,
    False,
    0,
    -(2**63),
    2**64 - 1,
    2**64,
    -(10**40),
    1.5,
    -0.0,
    float("nan"),
    float("inf"),
    float("-inf"),
    "",
    "héllo $wdk",
    b"",
    b"\x00\xff",
    [],
    [1, [2, [3]]],
    (),
    (1, "a", (2.5,)),
    {},
    {"a": 1, "b": [1, 2]},
    {1: "int key", (1, 2): "tuple key", None: 0, frozenset({1}): "fs"},
    {"$wdk": "tuple", "v": [1]},
    set(),
    {1, 2, 3},
    frozenset({"a", "b"}),
    datetime(2024, 5, 6, 7, 8, 9, 123456),
    datetime(2024, 5, 6, 7, 8, 9, tzinfo=UTC),
    datetime(2024, 5, 6, 7, 8, tzinfo=timezone(timedelta(hours=-5, minutes=-30))),
    datetime(2024, 5, 6, 7, 8, tzinfo=timezone(timedelta(hours=1), "CET")),
    datetime(2024, 7, 1, 12, tzinfo=ZoneInfo("Europe/Paris")),
    datetime(2024, 10, 27, 2, 30, fold=1, tzinfo=ZoneInfo("Europe/Paris")),
    date(1999, 12, 31),
    time(23, 59, 59, 999999),
    time(1, 2, tzinfo=timezone(timedelta(hours=2))),
    timedelta(days=-3, seconds=5, microseconds=7),
    Decimal("1.10"),
    Decimal("-0"),
    Decimal("NaN"),
    Decimal("1E+30"),
    uuid.UUID("12345678-1234-5678-1234-567812345678"),
    Color.RED,
    Color.PAIR,
    Level.HIGH,
    Mode.FAST,
    Perm.R | Perm.X,
    Point(1, (2, 3)),
    User("ann", Address("1 Main St", "Paris"), ["a"]),
    Item("pen", qty={"k": (1,)}),
    Pair(Point(1, 2), {3}),
    Movie(title="Heat", year=1995),
    Money(250, "EUR"),
    {"price": Money(1, "USD"), "when": date(2020, 1, 1)},
]


@pytest.mark.parametrize("value", VALUES, ids=lambda v: type(v).__name__)
def test_round_trip_each_type(value: Any) -> None:
    round_trip(value)


def test_plain_json_stays_itself() -> None:
    data = {"name": "ann", "n": 3, "x": 1.5, "ok": True, "none": None, "items": [{"a": [1]}]}
    assert to_builtins(data) == data
    assert dumps(data) == msgspec.json.encode(data)


def test_tagged_forms_are_readable() -> None:
    assert to_builtins((1, 2)) == {"$wdk": "tuple", "v": [1, 2]}
    assert to_builtins({"ids": {2, 1}}) == {"ids": {"$wdk": "set", "v": [1, 2]}}
    assert to_builtins(Point(1, 2)) == {
        "$wdk": "dataclass",
        "cls": "test_serde:Point",
        "v": {"x": 1, "y": 2},
    }


def test_user_dict_with_the_tag_key_is_not_taken_for_a_tag() -> None:
    forged = {"$wdk": "exception", "v": {"type": "ValueError"}}
    assert same(loads(dumps(forged)), forged)
    assert same(loads(dumps([forged])), [forged])


def test_equal_sets_encode_to_equal_bytes() -> None:
    a = {"x", "y", "z", "w"}
    b = set(sorted(a, reverse=True))
    assert dumps(a) == dumps(b)


def test_init_var_dataclass_restores_state_without_init() -> None:
    value = WithInitVar(1, 2)
    out = round_trip(value)
    assert out.c == 3


def test_dataclass_missing_field_gets_its_default_and_unknown_fails() -> None:
    assert from_builtins(
        {"$wdk": "dataclass", "cls": "test_serde:Versioned", "v": {"a": 1}}
    ) == Versioned(1, 7)
    with pytest.raises(SerializationError, match="unknown fields"):
        from_builtins({"$wdk": "dataclass", "cls": "test_serde:Versioned", "v": {"a": 1, "zz": 2}})
    with pytest.raises(SerializationError, match="'a' is missing"):
        from_builtins({"$wdk": "dataclass", "cls": "test_serde:Versioned", "v": {}})


def test_encode_call_round_trip() -> None:
    data = encode_call((1, (2, 3)), {"user": User("a", Address("s", "c"))}, {"k": {4}})
    assert data["args"][0] == 1
    args, kwargs, closure = decode_call(msgspec.json.decode(msgspec.json.encode(data)))
    assert same(args, (1, (2, 3)))
    assert same(kwargs, {"user": User("a", Address("s", "c"))})
    assert closure == {"k": {4}}
    assert decode_call(encode_call((), {}))[2] is None


# --- failures name the path -------------------------------------------------------


def _path_of(fn: Any, *args: Any) -> str:
    with pytest.raises(SerializationError) as info:
        fn(*args)
    assert info.value.path in str(info.value)
    return info.value.path


def test_error_message_names_type_path_and_remedy() -> None:
    with socket.socket() as sock:
        with pytest.raises(SerializationError) as info:
            encode_call(("a", {"items": [1, 2, 3, sock]}), {})
    message = str(info.value)
    assert message.startswith(
        "cannot serialize a value of type socket.socket at args[1]['items'][3]; supported: None,"
    )
    assert "register_type()" in message
    assert info.value.path == "args[1]['items'][3]"
    assert isinstance(info.value, TypeError)


@pytest.mark.parametrize(
    ("value", "path"),
    [
        (object(), "value"),
        ([1, object()], "value[1]"),
        ((0, (0, 0, object())), "value[1][2]"),
        ({"a": {"b": [object()]}}, "value['a']['b'][0]"),
        ({1: object()}, "value[1]"),
        ({object(): 1}, "list(value.keys())[0]"),
        ({"s": {object()}}, "sorted(value['s'])[0]"),
        (Point(1, [object()]), "value.y[0]"),
        (Pair(1, {"k": object()}), "value.right['k']"),
        (Item("x", qty=object()), "value.qty"),
        ([Money(1, "x"), {"$wdk": object()}], "value[1]['$wdk']"),
    ],
)
def test_unserializable_paths(value: Any, path: str) -> None:
    assert _path_of(to_builtins, value) == path


def test_kwargs_and_closure_paths() -> None:
    user = User("ann", Address(object(), "c"))  # type: ignore[arg-type]
    assert _path_of(encode_call, (), {"user": user}) == "kwargs['user'].address.street"
    assert _path_of(encode_call, (), {}, {"y": [object()]}) == "closure['y'][0]"
    assert _path_of(dumps, [object()], "result") == "result[0]"


def test_unsupported_tzinfo() -> None:
    with pytest.raises(SerializationError, match=r"tzinfo of type test_serde\.Fixed"):
        to_builtins(datetime(2020, 1, 1, tzinfo=Fixed()))


def test_subclass_of_a_builtin_is_not_silently_downgraded() -> None:
    class_ = type("MyList", (list,), {})
    with pytest.raises(SerializationError):
        to_builtins(class_([1]))


def test_circular_references() -> None:
    loop: list[Any] = [1]
    loop.append(loop)
    with pytest.raises(SerializationError, match="circular reference") as info:
        to_builtins({"x": loop})
    assert info.value.path == "value['x'][1]"
    selfish: dict[str, Any] = {}
    selfish["me"] = [selfish]
    with pytest.raises(SerializationError, match="circular reference"):
        dumps(selfish)
    point = User("a", Address("s", "c"), [])
    point.tags.append(point)  # type: ignore[arg-type]
    with pytest.raises(SerializationError, match=r"circular reference: the value at value\.tags"):
        to_builtins(point)


def test_deep_nesting_is_an_error_not_a_recursion_error() -> None:
    value: Any = 1
    for _ in range(5000):
        value = [value]
    with pytest.raises(SerializationError, match=f"more than {MAX_DEPTH} levels"):
        to_builtins(value)
    ok: Any = 1
    for _ in range(MAX_DEPTH):
        ok = (ok,)
    round_trip(ok)


def test_local_class_is_refused_with_the_reason() -> None:
    @dataclass
    class Local:
        x: int

    with pytest.raises(SerializationError) as info:
        encode_call((Local(1),), {})
    message = str(info.value)
    assert "test_local_class_is_refused_with_the_reason.<locals>.Local at args[0]" in message
    assert "inside a function" in message
    assert "define Local at module level" in message


def test_class_not_importable_under_its_name() -> None:
    ghost = dataclasses.make_dataclass("Ghost", [("x", int)])
    ghost.__module__ = __name__
    with pytest.raises(SerializationError, match="not importable as test_serde:Ghost"):
        to_builtins(ghost(1))


def test_main_module_classes_decode_in_the_same_process(monkeypatch: pytest.MonkeyPatch) -> None:
    main_cls = dataclasses.make_dataclass("MainThing", [("x", int)])
    main_cls.__module__ = "__main__"
    monkeypatch.setattr(sys.modules["__main__"], "MainThing", main_cls, raising=False)
    data = to_builtins(main_cls(5))
    assert data["cls"] == "__main__:MainThing"
    assert from_builtins(data) == main_cls(5)


# --- decoding is strict --------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "match"),
    [
        ({"$wdk": "dataclass", "cls": "os:system", "v": {}}, "not a dataclass"),
        ({"$wdk": "enum", "cls": "test_serde:Point", "v": 1}, "not a Enum"),
        ({"$wdk": "struct", "cls": "test_serde:Point", "v": {}}, "not a msgspec.Struct"),
        ({"$wdk": "namedtuple", "cls": "test_serde:Item", "v": []}, "not a NamedTuple"),
        ({"$wdk": "dataclass", "cls": "no_such_mod_xyz:A", "v": {}}, "cannot decode"),
        ({"$wdk": "custom", "cls": "nobody", "v": 1}, "no type is registered"),
        ({"$wdk": "bogus", "v": 1}, "unknown wdk tag"),
        ({"$wdk": "tuple"}, "malformed"),
        ({"$wdk": "enum", "cls": "test_serde:Level", "v": 99}, "malformed"),
    ],
)
def test_decode_refuses(data: Any, match: str) -> None:
    with pytest.raises(SerializationError, match=match):
        from_builtins(data)


# --- registered types --------------------------------------------------------------


def test_registered_type_by_name() -> None:
    data = to_builtins({Money(5, "EUR"): [Money(1, "USD")]})
    assert data["v"][0][0] == {
        "$wdk": "custom",
        "cls": "test.Money",
        "v": {"$wdk": "tuple", "v": [5, "EUR"]},
    }
    assert same(from_builtins(data), {Money(5, "EUR"): [Money(1, "USD")]})


def test_register_type_guards() -> None:
    with pytest.raises(ValueError, match="natively"):
        register_type(tuple, list, tuple)
    with pytest.raises(ValueError, match="already registered"):
        register_type(Address, str, str, name="test.Money")


def test_register_type_again_is_a_no_op_for_the_same_class_or_a_rerun_copy() -> None:
    encode_before = to_builtins(Money(1, "EUR"))
    # The same class under the same name: nothing changes (the old encoder stays).
    register_type(Money, lambda m: "other", lambda v: v, name="test.Money")
    assert to_builtins(Money(1, "EUR")) == encode_before
    # The module's class statement run again (as the workflow sandbox does):
    # a copy with the same module and qualname, while the module holds Money.
    namespace: dict[str, Any] = {"__name__": Money.__module__}
    exec("class Money:\n    pass\n", namespace)
    copy = namespace["Money"]
    assert copy is not Money and copy.__qualname__ == "Money"
    register_type(copy, lambda m: "copy", lambda v: v, name="test.Money")
    assert to_builtins(Money(1, "EUR")) == encode_before
    with pytest.raises(SerializationError):
        to_builtins(copy())  # the copy was not registered
    # Another class (not a copy of the holder) under the taken name: refused.
    with pytest.raises(ValueError, match=r"'test.Money' is already registered for test_serde.Money"):
        register_type(Address, str, str, name="test.Money")


def test_registered_encoder_failure_names_path() -> None:
    with pytest.raises(
        SerializationError, match=r"encoder of test_serde.Broken failed at value\[0\]"
    ):
        to_builtins([Broken()])


# --- exceptions --------------------------------------------------------------------


def _raised(exc: BaseException) -> BaseException:
    def failing_step() -> None:
        raise exc

    try:
        failing_step()
    except BaseException as caught:
        return caught
    raise AssertionError("unreachable")


def _through_json(exc: BaseException) -> BaseException:
    return decode_error(msgspec.json.decode(msgspec.json.encode(encode_error(exc))))


def test_builtin_exception_is_rebuilt_with_remote_traceback() -> None:
    out = _through_json(_raised(ValueError("bad", 3)))
    assert type(out) is ValueError
    assert out.args == ("bad", 3)
    tb = out.__wdk_traceback__  # type: ignore[attr-defined]
    assert "failing_step" in tb and "ValueError: ('bad', 3)" in tb
    assert any("failing_step" in note for note in out.__notes__)


def test_custom_exception_with_extra_args_and_attrs() -> None:
    out = _through_json(_raised(CodeError("declined", 402)))
    assert type(out) is CodeError
    assert out.args == ("declined", 402) and out.code == 402


def test_exception_needing_kwargs_falls_back_to_step_error() -> None:
    data = encode_error(_raised(KwOnlyError(code=5)))
    assert data["type"] == "test_serde.KwOnlyError" and data["message"] == "code 5"
    assert data["attrs"] == {"code": 5}
    out = decode_error(data)
    assert type(out) is StepError
    assert (out.type_name, out.message) == ("test_serde.KwOnlyError", "code 5")
    assert "failing_step" in out.traceback_text
    assert "KwOnlyError" in out.__wdk_traceback__  # type: ignore[attr-defined]


def test_unserializable_exception_args_fall_back_to_step_error() -> None:
    with socket.socket() as sock:
        data = encode_error(ValueError(sock))
    assert data["args"] is None
    out = decode_error(data)
    assert isinstance(out, StepError) and out.type_name == "ValueError"


def test_local_exception_class_falls_back_to_step_error() -> None:
    class Oops(Exception):
        pass

    out = _through_json(Oops("x"))
    assert isinstance(out, StepError)
    assert out.type_name.endswith("<locals>.Oops") and out.message == "x"


def test_wdk_exceptions_round_trip() -> None:
    retry = _through_json(RetryableError("later", retry_after="10s"))
    assert type(retry) is RetryableError and retry.retry_after == "10s"
    step = _through_json(StepError("KeyError", "'k'", "tb"))
    assert type(step) is StepError and (step.type_name, step.message) == ("KeyError", "'k'")


def test_exception_as_a_value() -> None:
    out = loads(dumps({"errors": [KeyError("k"), CodeError("m", 1)]}))
    first, second = out["errors"]
    assert type(first) is KeyError and first.args == ("k",)
    assert type(second) is CodeError and second.code == 1


# --- properties ------------------------------------------------------------------

hashable_leaves = st.one_of(
    st.none(),
    st.booleans(),
    st.integers() | st.integers(min_value=-(2**80), max_value=2**80),
    st.floats(allow_nan=False),
    st.text(max_size=8),
    st.binary(max_size=8),
    st.dates(),
    st.timedeltas(),
    st.decimals(allow_nan=False),
    st.uuids(),
    st.sampled_from([Color.RED, Level.LOW, Mode.FAST, Perm.W]),
)
leaves = st.one_of(
    hashable_leaves,
    st.floats(),
    st.decimals(),
    st.datetimes(timezones=st.none() | st.timezones()),
    st.times(timezones=st.none() | st.just(UTC)),
    st.sampled_from(["$wdk", "v"]),
)
hashables = st.recursive(
    hashable_leaves,
    lambda inner: st.tuples(inner, inner) | st.frozensets(inner, max_size=3),
    max_leaves=6,
)
values = st.recursive(
    leaves,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.lists(inner, max_size=4).map(tuple),
        st.dictionaries(st.text(max_size=5) | st.just("$wdk"), inner, max_size=4),
        st.dictionaries(hashables, inner, max_size=3),
        st.sets(hashables, max_size=3),
        st.frozensets(hashables, max_size=3),
        st.builds(Point, inner, inner),
        st.builds(Item, st.text(max_size=3), inner),
        st.builds(Pair, inner, inner),
        st.builds(Money, st.integers(), st.text(max_size=3)),
    ),
    max_leaves=20,
)
plain_json = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**63)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(st.text(max_size=5).filter(lambda k: k != "$wdk"), inner, max_size=4)
    ),
    max_leaves=20,
)


@settings(max_examples=300, deadline=None)
@given(values)
def test_property_round_trip(value: Any) -> None:
    round_trip(value)


@settings(max_examples=150, deadline=None)
@given(plain_json)
def test_property_plain_json_is_unchanged(value: Any) -> None:
    assert same(to_builtins(value), value)
    assert dumps(value) == msgspec.json.encode(value)
    assert same(loads(dumps(value)), value)


def test_exception_value_with_unserializable_args_names_the_path() -> None:
    with socket.socket() as sock:
        with pytest.raises(SerializationError) as info:
            to_builtins({"errs": [ValueError(1, sock)]})
    assert info.value.path == "value['errs'][0].args[1]"


def test_exception_that_contains_itself() -> None:
    exc = ValueError("loop")
    exc.args = ("loop", [exc])
    exc.me = exc  # type: ignore[attr-defined]
    data = encode_error(exc)
    assert data["args"] is None and "attrs" not in data
    with pytest.raises(SerializationError, match="circular reference"):
        to_builtins([exc])


def test_registered_default_name_imports_its_module_on_decode(
    tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "wdk_serde_lazy_mod.py").write_text(
        "from wdk.runtime.serde import register_type\n"
        "class Thing:\n"
        "    def __init__(self, n): self.n = n\n"
        "register_type(Thing, lambda t: t.n, lambda n: Thing(n))\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "wdk_serde_lazy_mod", raising=False)
    out = from_builtins({"$wdk": "custom", "cls": "wdk_serde_lazy_mod:Thing", "v": 3})
    assert type(out).__name__ == "Thing" and out.n == 3
    assert to_builtins(out)["cls"] == "wdk_serde_lazy_mod:Thing"
    monkeypatch.delitem(sys.modules, "wdk_serde_lazy_mod")
