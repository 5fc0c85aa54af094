"""The shortcuts a step's hot path takes give what the plain code gives."""

from __future__ import annotations

import dataclasses
import functools
import sys
from typing import Any

import pytest

from wdk.runtime import callsite
from wdk.runtime.instance import _CorrelationIds, correlation_id
from wdk.runtime.metadata import StepMetadata
from wdk.runtime.steps import _is_async


@pytest.mark.parametrize("run_id", ["wrun_01J0000000000000000000000", "r", "ü:1"])
def test_correlation_ids_from_the_hashed_prefix_are_the_documented_ones(run_id: str) -> None:
    ids = _CorrelationIds(run_id)
    for kind in ("step", "wait", "hook"):
        for n in (1, 2, 9, 10, 11, 12345):
            assert ids(kind, n) == correlation_id(run_id, kind, n)


def test_step_metadata_is_still_a_frozen_dataclass() -> None:
    meta = StepMetadata("step//m//f", "step_1_x", 2, 10.0, "wrun_1", workflow_id="workflow//m//w")
    assert [f.name for f in dataclasses.fields(meta)] == [
        "step_id", "correlation_id", "attempt", "started_at", "run_id", "recovery", "workflow_id", "run_started_at",
    ]
    assert (meta.recovery, meta.run_started_at) == (0, 0.0)
    assert meta == StepMetadata(
        step_id="step//m//f", correlation_id="step_1_x", attempt=2, started_at=10.0, run_id="wrun_1",
        recovery=0, workflow_id="workflow//m//w", run_started_at=0.0,
    )
    assert hash(meta) == hash(dataclasses.replace(meta))
    assert dataclasses.replace(meta, attempt=3).attempt == 3
    assert meta.attempt_key == "step_1_x#2.0"
    with pytest.raises(dataclasses.FrozenInstanceError):
        meta.attempt = 5  # type: ignore[misc]
    assert "attempt=2" in repr(meta)


async def _coro_step() -> int:
    return 1


def _plain_step() -> int:
    return 1


class _Steps:
    async def method(self) -> int:
        return 1


def test_is_async_answers_as_inspect_does() -> None:
    assert _is_async(_coro_step)
    assert not _is_async(_plain_step)
    assert _is_async(_Steps().method)  # a bound method: inspect's answer
    assert _is_async(functools.partial(_coro_step))
    assert not _is_async(functools.partial(_plain_step))


def _here() -> str:
    return callsite.location(sys._getframe(1))


def test_call_sites_are_remembered_per_instruction(monkeypatch: pytest.MonkeyPatch) -> None:
    line = sys._getframe().f_lineno
    first = [_here() for _ in range(3)]  # one call site, three calls
    second = _here()
    assert first == [f"{__file__}:{line + 1}"] * 3
    assert second == f"{__file__}:{line + 2}"
    monkeypatch.setattr(callsite, "_MAX_PLACES", len(callsite._places))  # full: emptied, then found again
    assert _here() == f"{__file__}:{line + 6}"
    assert len(callsite._places) == 1


# --- session 6: the shortcuts of rt2 --------------------------------------------------------


@pytest.mark.parametrize("value", [0, -(2**63), 2**64 - 1, 1.5, -0.0, True, False, None])
def test_a_scalar_result_is_itself_as_the_encoder_gives_it(value: object) -> None:
    from wdk.runtime import serde
    from wdk.runtime.serde.encode import _enc

    assert serde.to_builtins(value, "result") == _enc(value, 0)
    assert type(serde.to_builtins(value, "result")) is type(value)


@pytest.mark.parametrize("value", [2**64, -(2**63) - 1, float("nan"), float("inf")])
def test_scalars_json_cannot_carry_are_still_tagged(value: object) -> None:
    from wdk.runtime import serde

    encoded = serde.to_builtins(value, "result")
    assert isinstance(encoded, dict) and "$wdk" in encoded


def test_a_scalar_result_is_still_checked_against_a_tiny_limit() -> None:
    """The scalar shortcut holds only under limits no scalar can reach."""
    from wdk.errors import SerializationError
    from wdk.runtime.serde import encode

    before = encode._LIMIT[0]
    try:
        encode.set_max_bytes(4)
        with pytest.raises(SerializationError, match="over the payload limit"):
            encode.to_builtins(123456, "result")
        encode.set_max_bytes(32)
        assert encode.to_builtins(2**64 - 1, "result") == 2**64 - 1
    finally:
        encode.set_max_bytes(before)


def test_calls_without_keyword_arguments_round_trip_with_a_fresh_kwargs_dict() -> None:
    from wdk.runtime import serde

    data = serde.encode_call((1, "a"), {})
    assert data == {"args": [1, "a"], "kwargs": {}}
    args, kwargs, closure = serde.decode_call(data)
    assert (args, kwargs, closure) == ((1, "a"), {}, None)
    kwargs["x"] = 1  # the step may change its kwargs: never shared
    assert serde.decode_call(data)[1] == {} and data["kwargs"] == {}
    assert serde.decode_call({"args": []})[1] == {}
    assert serde.decode_call(serde.encode_call((), {"s": {1}}))[1] == {"s": {1}}


def test_location_answers_a_known_sandboxed_frame_as_the_walk_does() -> None:
    """The cached answer is keyed by the instruction: two lines of one
    function keep their own lines, on every call."""
    ns: dict[str, object] = {"__wdk_sandboxed__": True, "sys": sys}
    src = "def f(loc):\n    a = loc(sys._getframe())\n    b = loc(sys._getframe())\n    return a, b\n"
    exec(compile(src, "/app/flow.py", "exec"), ns)
    f = ns["f"]
    assert callable(f)
    for _ in range(3):  # the first call fills the cache, the next ones read it
        assert f(callsite.location) == ("/app/flow.py:2", "/app/flow.py:3")
        assert f(lambda fr: callsite._where(fr)[1]) == ("/app/flow.py:2", "/app/flow.py:3")  # type: ignore[index]


def test_nothing_due_is_next_wake_is_none() -> None:
    from types import SimpleNamespace

    from wdk.runtime.instance import RETRYING, STARTED, StepCall, WaitCall
    from wdk.runtime.orchestrator import Orchestrator

    started = StepCall("step_1_a", "s", "", state=STARTED)
    retrying = StepCall("step_2_b", "s", "", state=RETRYING, retry_at=5.0)
    wait = WaitCall("wait_3_c", "sleep", "", resume_at=7.0)
    for steps, waits, due in [
        ([started], [], True),  # the run's one active call: the step about to start
        ([started, retrying], [], False),
        ([started], [wait], False),
        ([started, StepCall("step_4_d", "s", "", state=STARTED)], [], True),
    ]:
        inst: object = SimpleNamespace(
            active_steps={c.correlation_id: c for c in steps}, active_waits={w.correlation_id: w for w in waits}
        )
        assert Orchestrator._nothing_due(inst) is due  # type: ignore[arg-type]
        assert (Orchestrator._next_wake(inst) is None) is due  # type: ignore[arg-type]


class _Provider:
    def get_tracer(self, name: str) -> object:
        return object()


def test_tracing_active_follows_a_provider_set_within_the_recheck_window() -> None:
    """`active()` answers "no" at once for a while after finding no provider;
    a provider set meanwhile (`use_provider`) is seen on the next question."""
    from wdk.runtime import tracing

    tracing.use_provider(None)
    try:
        first = tracing.active()  # no SDK provider in the tests' process: remembered for a while
        tracing.use_provider(_Provider())  # any provider that is not OTel's no-op one
        assert tracing.active() is True
        tracing.use_provider(None)
        assert tracing.active() is first
    finally:
        tracing.use_provider(None)


# --- session 7: the shortcuts of rt3 --------------------------------------------------------

_FLAT_ARGS = [
    (),
    (1, -2.5, True, None, 2**64 - 1, -(2**63)),
    ("", "a", "é€😀", "\x00\x1f\"\\", "x" * 300),
    ("order-1", 3, 0.0, False),
]


@pytest.mark.parametrize("args", _FLAT_ARGS)
def test_flat_call_arguments_encode_as_the_encoder_gives_them(args: tuple[object, ...]) -> None:
    from wdk.runtime.serde import encode

    plain = {"args": encode._encode_root(encode._enc_items, args, "args"), "kwargs": {}}
    assert encode.encode_call(args, {}) == plain
    assert type(encode.encode_call(args, {})["args"]) is list


@pytest.mark.parametrize("args", _FLAT_ARGS)
def test_flat_call_arguments_fit_a_limit_exactly_when_their_json_does(args: tuple[object, ...]) -> None:
    """The size bound that spares encoding them never lets a call over the limit through."""
    import msgspec

    from wdk.errors import SerializationError
    from wdk.runtime.serde import encode

    size = len(msgspec.json.encode({"args": list(args), "kwargs": {}}))
    before = encode._LIMIT[0]
    try:
        for limit in (size - 1, size, size + 1, size * 7):
            encode.set_max_bytes(limit)
            if size <= limit:
                assert encode.encode_call(args, {})["args"] == list(args)
            else:
                with pytest.raises(SerializationError, match="over the payload limit"):
                    encode.encode_call(args, {})
    finally:
        encode.set_max_bytes(before)


@pytest.mark.parametrize(
    "data",
    [
        {"args": [1, "a", None, 2.5, True], "kwargs": {}},
        {"args": [1, {"$wdk": "set", "v": [3]}], "kwargs": {}},  # tagged: decoded
        {"args": [[1, 2], {"k": {"$wdk": "int", "v": str(2**70)}}], "kwargs": {"x": {"$wdk": "set", "v": []}}},
        {"args": [], "kwargs": {}, "closure": {"n": 1}},
    ],
)
def test_call_arguments_decode_as_from_builtins_decodes_them(data: dict[str, object]) -> None:
    from wdk.runtime import serde

    args, kwargs, closure = serde.decode_call(data)
    assert args == tuple(serde.from_builtins(data["args"]))
    assert kwargs == serde.from_builtins(data["kwargs"])
    assert closure == (serde.from_builtins(data["closure"]) if "closure" in data else None)


def test_malformed_call_arguments_still_fail_as_malformed() -> None:
    from wdk.errors import SerializationError
    from wdk.runtime import serde

    with pytest.raises(SerializationError, match="malformed wdk data"):
        serde.decode_call({"args": [{"$wdk": "int"}], "kwargs": {}})


def test_a_running_steps_metadata_is_made_once_from_its_fields() -> None:
    from wdk.runtime.metadata import RunningStep

    fields = ("step//m//f", "step_1_x", 2, 10.0, "wrun_1", 1, "workflow//m//w", 5.0)
    step = RunningStep(fields, None)
    meta = step.metadata
    assert meta == StepMetadata(*fields) and meta.attempt_key == "step_1_x#2.1"
    assert step.metadata is meta  # asked twice in one attempt: the same object


async def test_a_step_sees_its_metadata_only_while_it_runs() -> None:
    from wdk.runtime.current import current_step
    from wdk.runtime.metadata import RunningStep
    from wdk.runtime.steps import run_attempt

    seen: list[object] = []

    async def step() -> int:
        seen.append(current_step())
        seen.append(current_step())
        return 1

    fields = ("step//m//f", "step_1_x", 1, 10.0, "wrun_1", 0, "workflow//m//w", 5.0)
    outcome = await run_attempt(step, (), {}, RunningStep(fields, None))
    assert outcome.kind == "completed" and outcome.result == 1
    assert seen[0] == StepMetadata(*fields) and seen[1] is seen[0]
    assert current_step() is None


def test_events_applied_as_appended_give_what_the_read_log_gives() -> None:
    """`apply_next` of the NewEvents the orchestrator appends leaves an instance
    where `apply` of the Events read back from the log leaves it."""
    from pathlib import Path

    from wdk.runtime import serde
    from wdk.runtime.instance import WorkflowInstance
    from wdk.runtime.loader import Loader
    from wdk.worlds.base import Event, NewEvent

    sys.path.insert(0, str(Path(__file__).parent))
    try:
        workflow_id = "workflow//callsite_flows//gathered"
        fn = Loader().workflow_function(workflow_id)
    finally:
        sys.path.remove(str(Path(__file__).parent))
    payload = {"workflow_id": workflow_id, "input": serde.encode_call((["a", "bb", "ccc"],), {})}
    created = Event("wrun_next", 0, "run_created", 1_700_000_000.0, None, payload)
    read, appended = (WorkflowInstance("wrun_next", workflow_id, fn, created) for _ in range(2))
    try:
        read.apply(created)
        appended.apply(created)
        commands = read.take_commands()
        log: list[NewEvent] = []
        for call in commands:
            log.append(NewEvent("step_created", 1_700_000_001.0, call.correlation_id, {"step_id": call.name}))
        for n, call in enumerate(commands):
            log.append(NewEvent("step_started", 1_700_000_002.0 + n, call.correlation_id, {"attempt": 1}))
            log.append(NewEvent("step_completed", 1_700_000_003.0 + n, call.correlation_id, {"result": n}))
        for seq, new in enumerate(log, 1):
            read.apply(Event("wrun_next", seq, new.type, new.at, new.correlation_id, new.payload))
            appended.apply_next(new)
            assert appended.last_seq == read.last_seq == seq
            assert appended.loop.time() == read.loop.time()
            assert [(c.correlation_id, c.state, getattr(c, "attempt", 0)) for c in appended.calls.values()] == [
                (c.correlation_id, c.state, getattr(c, "attempt", 0)) for c in read.calls.values()
            ]
        assert read.outcome() == appended.outcome() == (True, [0, 1, 2])
    finally:
        read.close()
        appended.close()


# --- session 8 (rt4) ----------------------------------------------------------------------------


def _reference_check(fn: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> bool:
    import inspect

    try:
        inspect.signature(fn).bind(*args, **kwargs)
    except TypeError:
        return False
    return True


def test_counted_positional_arguments_bind_as_the_signature_says() -> None:
    from wdk.runtime.arguments import check_arguments

    async def none() -> None: ...
    async def two(a: int, b: int) -> None: ...
    async def defaults(a: int, b: int = 1, c: int = 2) -> None: ...
    async def only(a: int, /, b: int = 1) -> None: ...
    async def star(a: int, *rest: int) -> None: ...
    async def keyword(a: int, *, k: int) -> None: ...
    async def keyword_default(a: int, *, k: int = 1) -> None: ...
    async def anything(**kw: int) -> None: ...

    for fn in (none, two, defaults, only, star, keyword, keyword_default, anything):
        for n in range(5):
            for kwargs in ({}, {"b": 1}, {"k": 1}):
                args = tuple(range(n))
                ok = _reference_check(fn, args, kwargs)
                for _ in range(2):  # the first builds the signature, the second counts
                    if ok:
                        check_arguments(fn, args, kwargs)
                    else:
                        with pytest.raises(TypeError, match=fn.__name__):
                            check_arguments(fn, args, kwargs)


def test_a_runs_secret_is_hmac_sha256_of_its_seed() -> None:
    import hashlib
    import hmac

    from wdk.runtime.instance import WorkflowInstance
    from wdk.worlds.base import Event

    async def flow() -> None: ...

    created = Event("wrun_s", 0, "run_created", 1.0, None, {"seed": "abc", "rng": 2})
    inst = WorkflowInstance("wrun_s", "workflow//m//flow", flow, created, None, b"store-secret")
    try:
        assert inst.secret == hmac.new(b"store-secret", b"abc", hashlib.sha256).hexdigest().encode()
    finally:
        inst.close()


def test_calls_compare_by_identity() -> None:
    from wdk.runtime.instance import HookCall, StepCall, WaitCall

    for kind in (StepCall, WaitCall, HookCall):
        a, b = kind("c_1", "n", "f:1"), kind("c_1", "n", "f:1")
        assert a != b and a == a and a in [a] and b not in [a]
        assert {a: 1}[a] == 1 and len({a, b}) == 2
    assert StepCall("c", "n", "f").input is not StepCall("c", "n", "f").input  # a dict each


def test_the_workflow_loops_debug_flag_reaches_its_futures_and_handles() -> None:
    import asyncio

    from wdk.runtime.loop import WorkflowLoop

    loop = WorkflowLoop(run_id="r", seed=1, start_time=0.0, timer_hook=lambda h: None)
    try:
        assert loop.get_debug() is False
        assert asyncio.Future(loop=loop)._source_traceback is None  # type: ignore[attr-defined]
        loop.set_debug(True)
        assert loop.get_debug() is True
        assert asyncio.Future(loop=loop)._source_traceback  # type: ignore[attr-defined]
        assert loop.call_soon(print, context=None)._source_traceback  # type: ignore[attr-defined]
        loop.set_debug(False)
        assert loop.get_debug() is False
    finally:
        loop._ready.clear()
        loop.close()


def test_a_wake_up_handle_is_what_handle_init_makes() -> None:
    import asyncio
    import contextvars

    from wdk.runtime.loop import WorkflowLoop

    loop = WorkflowLoop(run_id="r", seed=1, start_time=0.0, timer_hook=lambda h: None)
    ran: list[int] = []
    ctx = contextvars.copy_context()
    made = loop.call_soon(ran.append, 1, context=ctx)
    plain = asyncio.Handle(ran.append, (1,), loop, ctx)
    for slot in ("_callback", "_args", "_cancelled", "_loop", "_source_traceback", "_repr", "_context"):
        assert getattr(made, slot) == getattr(plain, slot), slot
    assert repr(made) == repr(plain)
    cancelled = loop.call_soon(ran.append, 2, context=ctx)
    cancelled.cancel()
    loop.run_until_quiescent()
    assert ran == [1] and cancelled.cancelled()
    loop.close()


def test_taken_patches_leave_the_same_list_empty() -> None:
    from wdk.runtime.instance import WorkflowInstance
    from wdk.worlds.base import Event

    async def flow() -> None: ...

    created = Event("wrun_p", 0, "run_created", 1.0, None, {})
    inst = WorkflowInstance("wrun_p", "workflow//m//flow", flow, created)
    try:
        inst.apply(created)  # live from here on: patched() says True and records a marker
        pending = inst.new_patches  # what `_collect` holds while it runs
        assert inst.patched("p1")
        assert inst.take_patches() == ["p1"]
        assert inst.new_patches is pending and pending == []
        assert inst.patched("p2") and pending == ["p2"]
    finally:
        inst.close()
