"""WorkflowLoop: standard asyncio on a loop with virtual time and durable timers."""

from __future__ import annotations

import asyncio
import contextvars
import gc
import socket
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Iterator
from typing import Any, TypeVar

import pytest

from wdk.errors import WorkflowSandboxError
from wdk.runtime.loop import WorkflowLoop

T = TypeVar("T")
START = 1_700_000_000.0


class Driver:
    """Plays the orchestrator: records timers, fires them, advances time."""

    def __init__(self, seed: int = 7, start: float = START) -> None:
        self.timers: list[asyncio.TimerHandle] = []
        self.loop = WorkflowLoop(
            run_id="run-1", seed=seed, start_time=start, timer_hook=self.timers.append
        )

    def start(self, coro: Coroutine[Any, Any, T]) -> asyncio.Task[T]:
        task = self.loop.create_task(coro)
        self.loop.run_until_quiescent()
        return task

    def fire(self, handle: asyncio.TimerHandle) -> None:
        self.loop.set_time(handle.when())
        self.loop.fire_timer(handle)
        self.loop.run_until_quiescent()

    def fire_next(self) -> asyncio.TimerHandle:
        live = [h for h in self.timers if not h.cancelled()]
        handle = min(live, key=lambda h: h.when())
        self.timers.remove(handle)
        self.fire(handle)
        return handle

    def resolve(self, fut: asyncio.Future[T], value: T) -> None:
        fut.set_result(value)
        self.loop.run_until_quiescent()


@pytest.fixture(autouse=True)
def _collect_only_this_tests_garbage() -> Iterator[None]:
    """The gc.collect() calls here look for garbage the test itself made (a
    task destroyed while pending, an exception never retrieved). Everything
    older is frozen meanwhile: after other tests a process holds millions of
    objects (compiler caches), and a full collection of them costs seconds."""
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


@pytest.fixture
def drv() -> Iterator[Driver]:
    d = Driver()
    yield d
    d.loop.close()
    gc.collect()
    assert d.loop.exceptions == []


# --- basics -----------------------------------------------------------------------


def test_call_soon_runs_in_order_and_only_when_driven(drv: Driver) -> None:
    seen: list[int] = []
    for i in range(3):
        drv.loop.call_soon(seen.append, i)
    assert seen == []
    assert drv.loop.has_ready()
    drv.loop.run_until_quiescent()
    assert seen == [0, 1, 2]
    assert not drv.loop.has_ready()


def test_task_awaits_future_resolved_from_outside(drv: Driver) -> None:
    fut = drv.loop.create_future()

    async def wf() -> int:
        assert asyncio.get_running_loop() is drv.loop
        return int(await fut) + 1

    task = drv.start(wf())
    assert not task.done()
    drv.resolve(fut, 41)
    assert task.result() == 42


def test_running_loop_is_unset_outside_run(drv: Driver) -> None:
    drv.loop.call_soon(lambda: None)
    drv.loop.run_until_quiescent()
    with pytest.raises(RuntimeError):
        asyncio.get_running_loop()


def test_gather_of_tasks(drv: Driver) -> None:
    futs = [drv.loop.create_future() for _ in range(3)]

    async def child(i: int) -> int:
        return int(await futs[i]) * 10

    async def wf() -> list[int]:
        return await asyncio.gather(*(child(i) for i in range(3)))

    task = drv.start(wf())
    for i in (2, 0, 1):  # completion order differs from call order
        drv.resolve(futs[i], i)
    assert task.result() == [0, 10, 20]


def test_gather_return_exceptions_and_try_except(drv: Driver) -> None:
    async def boom() -> None:
        raise ValueError("bad")

    async def ok() -> str:
        return "ok"

    async def wf() -> tuple[list[Any], str]:
        results = list(await asyncio.gather(ok(), boom(), return_exceptions=True))
        try:
            await boom()
        except ValueError as exc:
            caught = str(exc)
        return results, caught

    results, caught = drv.start(wf()).result()
    assert results[0] == "ok" and isinstance(results[1], ValueError)
    assert caught == "bad"


# --- timers and virtual time ------------------------------------------------------------


def test_sleep_is_a_durable_wait(drv: Driver) -> None:
    async def wf() -> float:
        await asyncio.sleep(5)
        return drv.loop.time()

    task = drv.start(wf())
    assert [h.when() for h in drv.timers] == [START + 5]
    drv.loop.run_until_quiescent()  # nothing fires by itself
    assert not task.done()
    assert drv.loop.time() == START
    drv.fire(drv.timers[0])
    assert task.result() == START + 5


def test_sleep_zero_yields_without_a_timer(drv: Driver) -> None:
    order: list[str] = []

    async def a() -> None:
        order.append("a1")
        await asyncio.sleep(0)
        order.append("a2")

    async def b() -> None:
        order.append("b1")

    drv.loop.create_task(a())
    drv.loop.create_task(b())
    drv.loop.run_until_quiescent()
    assert order == ["a1", "b1", "a2"]
    assert drv.timers == []


def test_timer_hook_called_in_call_order_with_when(drv: Driver) -> None:
    async def wf() -> None:
        await asyncio.gather(asyncio.sleep(30), asyncio.sleep(10), asyncio.sleep(20))

    task = drv.start(wf())
    assert [h.when() - START for h in drv.timers] == [30, 10, 20]
    drv.loop.set_time(START + 100)
    drv.loop.call_later(1, lambda: None)
    assert drv.timers[-1].when() == START + 101
    for handle in list(drv.timers[:3]):
        drv.fire(handle)
    assert task.done() and task.exception() is None


def test_non_positive_delay_behaves_as_call_soon(drv: Driver) -> None:
    seen: list[str] = []
    drv.loop.call_later(0, seen.append, "zero")
    drv.loop.call_later(-3, seen.append, "negative")
    drv.loop.call_at(START - 1, seen.append, "past")
    assert drv.timers == []
    drv.loop.run_until_quiescent()
    assert seen == ["zero", "negative", "past"]


def test_time_moves_only_by_set_time_and_never_back(drv: Driver) -> None:
    assert drv.loop.time() == START
    drv.loop.run_until_quiescent()
    assert drv.loop.time() == START
    drv.loop.set_time(START + 3)
    drv.loop.set_time(START + 1)  # clock skew between workers is ignored
    assert drv.loop.time() == START + 3


def test_cancelled_timer_never_fires(drv: Driver) -> None:
    seen: list[int] = []
    handle = drv.loop.call_later(10, seen.append, 1)
    handle.cancel()
    assert handle.cancelled()
    drv.fire(handle)
    assert seen == []


def test_timer_fires_once(drv: Driver) -> None:
    seen: list[int] = []
    handle = drv.loop.call_later(10, seen.append, 1)
    drv.fire(handle)
    drv.fire(handle)
    assert seen == [1]


def test_foreign_timer_rejected(drv: Driver) -> None:
    other = Driver()
    handle = other.loop.call_later(1, lambda: None)
    with pytest.raises(ValueError):
        drv.loop.fire_timer(handle)
    other.loop.close()


def test_sleep_cancelled_cancels_its_timer(drv: Driver) -> None:
    task = drv.start(asyncio.sleep(60))
    task.cancel()
    drv.loop.run_until_quiescent()
    assert task.cancelled()
    assert drv.timers[0].cancelled()


# --- asyncio.wait / wait_for / timeout ----------------------------------------------------


def test_wait_first_completed(drv: Driver) -> None:
    f1, f2 = drv.loop.create_future(), drv.loop.create_future()

    async def wf() -> tuple[int, int]:
        done, pending = await asyncio.wait([f1, f2], return_when=asyncio.FIRST_COMPLETED)
        return len(done), len(pending)

    task = drv.start(wf())
    drv.resolve(f2, "x")
    assert task.result() == (1, 1)


def test_wait_all_completed(drv: Driver) -> None:
    futs = [drv.loop.create_future() for _ in range(3)]

    async def wf() -> list[int]:
        done, pending = await asyncio.wait(futs)
        assert not pending
        return sorted(f.result() for f in done)

    task = drv.start(wf())
    for i, f in enumerate(futs):
        assert not task.done()
        drv.resolve(f, i)
    assert task.result() == [0, 1, 2]


def test_wait_with_timeout_is_a_timer(drv: Driver) -> None:
    fut = drv.loop.create_future()

    async def wf() -> int:
        _done, pending = await asyncio.wait([fut], timeout=30)
        return len(pending)

    task = drv.start(wf())
    assert [h.when() for h in drv.timers] == [START + 30]
    drv.fire_next()
    assert task.result() == 1


def test_wait_for_inner_wins_cancels_timeout(drv: Driver) -> None:
    fut = drv.loop.create_future()

    async def wf() -> str:
        return str(await asyncio.wait_for(fut, timeout=60))

    task = drv.start(wf())
    (timeout_handle,) = drv.timers
    drv.resolve(fut, "fast")
    assert task.result() == "fast"
    assert timeout_handle.cancelled()


def test_wait_for_timeout_wins(drv: Driver) -> None:
    fut = drv.loop.create_future()

    async def wf() -> str:
        try:
            await asyncio.wait_for(fut, timeout=60)
        except TimeoutError:
            return "timed out"
        return "no"

    task = drv.start(wf())
    drv.fire_next()
    assert task.result() == "timed out"
    assert fut.cancelled()


def test_asyncio_timeout_both_ways(drv: Driver) -> None:
    slow, fast = drv.loop.create_future(), drv.loop.create_future()

    async def guarded(fut: asyncio.Future[str]) -> str:
        try:
            async with asyncio.timeout(10):
                return await fut
        except TimeoutError:
            return "timeout"

    t_slow = drv.start(guarded(slow))
    t_fast = drv.start(guarded(fast))
    h_slow, h_fast = drv.timers
    drv.resolve(fast, "fast")
    assert t_fast.result() == "fast" and h_fast.cancelled()
    drv.fire(h_slow)
    assert t_slow.result() == "timeout"


# --- structured concurrency and cancellation ------------------------------------------------


def test_task_group_collects_results(drv: Driver) -> None:
    futs = [drv.loop.create_future() for _ in range(2)]

    async def child(i: int) -> int:
        return int(await futs[i])

    async def wf() -> list[int]:
        async with asyncio.TaskGroup() as tg:
            tasks = [tg.create_task(child(i)) for i in range(2)]
        return [t.result() for t in tasks]

    task = drv.start(wf())
    drv.resolve(futs[1], 2)
    drv.resolve(futs[0], 1)
    assert task.result() == [1, 2]


def test_task_group_failure_cancels_siblings(drv: Driver) -> None:
    cleaned: list[str] = []

    async def sleeper() -> None:
        try:
            await asyncio.sleep(100)
        finally:
            cleaned.append("sleeper")

    async def failer() -> None:
        await asyncio.sleep(0)
        raise KeyError("k")

    async def wf() -> str:
        caught = "no"
        try:
            async with asyncio.TaskGroup() as tg:
                tg.create_task(sleeper())
                tg.create_task(failer())
        except* KeyError as group:
            caught = f"caught {len(group.exceptions)}"
        return caught

    task = drv.start(wf())
    assert task.result() == "caught 1"
    assert cleaned == ["sleeper"]
    assert drv.timers[0].cancelled()


def test_shield_keeps_inner_running(drv: Driver) -> None:
    inner_fut = drv.loop.create_future()

    async def inner() -> str:
        return str(await inner_fut)

    inner_task = drv.loop.create_task(inner())

    async def wf() -> str:
        try:
            return await asyncio.shield(inner_task)
        except asyncio.CancelledError:
            return "outer cancelled"

    outer = drv.start(wf())
    outer.cancel()
    drv.loop.run_until_quiescent()
    assert outer.result() == "outer cancelled"
    assert not inner_task.done()
    drv.resolve(inner_fut, "inner done")
    assert inner_task.result() == "inner done"


def test_cancellation_runs_except_and_finally(drv: Driver) -> None:
    log: list[str] = []

    async def wf() -> None:
        try:
            await drv.loop.create_future()
        except asyncio.CancelledError:
            log.append("except")
            raise
        finally:
            log.append("finally")

    task = drv.start(wf())
    task.cancel("stop")
    drv.loop.run_until_quiescent()
    assert task.cancelled()
    assert log == ["except", "finally"]


def test_queue_event_lock(drv: Driver) -> None:
    log: list[str] = []

    async def wf() -> list[str]:
        queue: asyncio.Queue[int] = asyncio.Queue(maxsize=1)
        ready = asyncio.Event()
        lock = asyncio.Lock()

        async def producer() -> None:
            for i in range(3):
                await queue.put(i)
            await queue.put(-1)

        async def consumer() -> None:
            await ready.wait()
            while (item := await queue.get()) != -1:
                async with lock:
                    log.append(f"got {item}")

        async def critical(name: str) -> None:
            async with lock:
                log.append(f"{name} in")
                await asyncio.sleep(0)
                log.append(f"{name} out")

        tasks = [asyncio.create_task(c) for c in (producer(), consumer(), critical("a"))]
        await critical("b")
        ready.set()
        await asyncio.gather(*tasks)
        return log

    result = drv.start(wf()).result()
    assert result[:4] == ["b in", "b out", "a in", "a out"]  # no interleaving
    assert result[4:] == ["got 0", "got 1", "got 2"]


def test_contextvars_copied_into_tasks(drv: Driver) -> None:
    var: contextvars.ContextVar[str] = contextvars.ContextVar("var", default="unset")

    async def child() -> str:
        seen = var.get()
        var.set("child")
        return seen

    async def wf() -> tuple[str, str]:
        var.set("parent")
        seen = await asyncio.create_task(child())
        return seen, var.get()

    assert drv.start(wf()).result() == ("parent", "parent")
    assert var.get() == "unset"


def test_task_names_are_deterministic(drv: Driver) -> None:
    async def wf() -> list[str]:
        t1 = asyncio.create_task(asyncio.sleep(0))
        t2 = asyncio.create_task(asyncio.sleep(0), name="mine")
        await asyncio.gather(t1, t2)
        current = asyncio.current_task()
        assert current is not None
        return [current.get_name(), t1.get_name(), t2.get_name()]

    assert drv.start(wf()).result() == ["workflow-task-1", "workflow-task-2", "mine"]


# --- the running loop ---------------------------------------------------------------------


async def test_run_until_quiescent_restores_outer_loop() -> None:
    outer = asyncio.get_running_loop()
    drv = Driver()
    inside: list[asyncio.AbstractEventLoop] = []

    async def wf() -> str:
        inside.append(asyncio.get_running_loop())
        await asyncio.sleep(1)
        return "done"

    task = drv.start(wf())
    assert inside == [drv.loop]
    assert asyncio.get_running_loop() is outer
    await asyncio.sleep(0)  # the outer loop still works
    drv.fire_next()
    assert task.result() == "done"
    assert asyncio.get_running_loop() is outer

    def interrupt() -> None:
        raise KeyboardInterrupt

    drv.loop.call_soon(interrupt)
    with pytest.raises(KeyboardInterrupt):
        drv.loop.run_until_quiescent()
    assert asyncio.get_running_loop() is outer
    drv.loop.close()


async def test_async_generators_finalize_on_the_workflow_loop() -> None:
    drv = Driver()
    closed: list[str] = []

    async def agen() -> AsyncIterator[int]:
        try:
            for i in range(10):
                yield i
        finally:
            closed.append(type(asyncio.get_running_loop()).__name__)

    async def wf() -> int:
        async for value in agen():
            if value == 2:
                break  # leaves the generator suspended
        return value

    assert drv.start(wf()).result() == 2
    gc.collect()
    drv.loop.run_until_quiescent()
    drv.loop.close()
    assert closed == ["WorkflowLoop"]


async def test_close_closes_a_suspended_async_generator_on_the_workflow_loop() -> None:
    """A generator still referenced when the run's loop closes is closed by
    `close()` itself (the loop keeps the generators first iterated on it)."""
    drv = Driver()
    closed: list[str] = []

    async def agen() -> AsyncIterator[int]:
        try:
            yield 1
            yield 2
        finally:
            closed.append(type(asyncio.get_running_loop()).__name__)

    held = agen()

    async def wf() -> int:
        return await held.__anext__()

    assert drv.start(wf()).result() == 1
    drv.loop.close()
    assert closed == ["WorkflowLoop"]


def test_a_loop_without_tasks_or_generators_closes_settled() -> None:
    drv = Driver()
    drv.loop.close()
    assert drv.loop.is_closed() and drv.loop._asyncgens is None


def test_reentrant_run_refused(drv: Driver) -> None:
    errors: list[BaseException] = []

    def nested() -> None:
        try:
            drv.loop.run_until_quiescent()
        except RuntimeError as exc:
            errors.append(exc)

    drv.loop.call_soon(nested)
    drv.loop.run_until_quiescent()
    assert len(errors) == 1


# --- errors ------------------------------------------------------------------------------------


def test_callback_errors_are_kept_not_printed(capsys: pytest.CaptureFixture[str]) -> None:
    drv = Driver()
    drv.loop.call_soon(lambda: 1 / 0)
    drv.loop.run_until_quiescent()
    (ctx,) = drv.loop.exceptions
    assert isinstance(ctx["exception"], ZeroDivisionError)

    async def fails() -> None:
        raise RuntimeError("lost")

    drv.start(fails())  # never awaited: reported when the task is collected
    gc.collect()
    assert any(isinstance(c.get("exception"), RuntimeError) for c in drv.loop.exceptions)
    drv.loop.close()
    assert capsys.readouterr() == ("", "")


def test_custom_exception_handler(drv: Driver) -> None:
    seen: list[str] = []
    drv.loop.set_exception_handler(lambda loop, ctx: seen.append(ctx["message"]))
    assert drv.loop.get_exception_handler() is not None
    drv.loop.call_soon(lambda: 1 / 0)
    drv.loop.run_until_quiescent()
    assert len(seen) == 1 and seen[0].startswith("Exception in callback")


FORBIDDEN: list[tuple[str, Callable[[WorkflowLoop, socket.socket], object]]] = [
    ("run_in_executor", lambda lp, _s: lp.run_in_executor(None, print)),
    ("set_default_executor", lambda lp, _s: lp.set_default_executor(None)),
    ("getaddrinfo", lambda lp, _s: lp.getaddrinfo("example.com", 80)),
    ("getnameinfo", lambda lp, _s: lp.getnameinfo(("127.0.0.1", 80))),
    ("create_connection", lambda lp, _s: lp.create_connection(asyncio.Protocol, "h", 1)),
    ("create_server", lambda lp, _s: lp.create_server(asyncio.Protocol, "h", 1)),
    ("create_datagram_endpoint", lambda lp, _s: lp.create_datagram_endpoint(asyncio.Protocol)),
    ("subprocess_exec", lambda lp, _s: lp.subprocess_exec(asyncio.SubprocessProtocol, "ls")),
    ("subprocess_shell", lambda lp, _s: lp.subprocess_shell(asyncio.SubprocessProtocol, "ls")),
    ("add_reader", lambda lp, _s: lp.add_reader(0, print)),
    ("add_writer", lambda lp, _s: lp.add_writer(0, print)),
    ("remove_reader", lambda lp, _s: lp.remove_reader(0)),
    ("add_signal_handler", lambda lp, _s: lp.add_signal_handler(2, print)),
    ("sock_recv", lambda lp, s: lp.sock_recv(s, 1)),
    ("sock_sendall", lambda lp, s: lp.sock_sendall(s, b"x")),
    ("sock_connect", lambda lp, s: lp.sock_connect(s, ("h", 1))),
    ("sock_accept", lambda lp, s: lp.sock_accept(s)),
    ("run_forever", lambda lp, _s: lp.run_forever()),
    ("run_until_complete", lambda lp, _s: lp.run_until_complete(asyncio.sleep(0))),
    ("call_soon_threadsafe", lambda lp, _s: lp.call_soon_threadsafe(print)),
]


@pytest.mark.parametrize(("name", "call"), FORBIDDEN, ids=[n for n, _ in FORBIDDEN])
def test_forbidden_loop_calls(
    drv: Driver, name: str, call: Callable[[WorkflowLoop, socket.socket], object]
) -> None:
    with (
        socket.socket() as sock,
        pytest.raises(WorkflowSandboxError, match=rf"loop\.{name}\(\).*use step"),
    ):
        call(drv.loop, sock)


@pytest.mark.parametrize(
    ("what", "make"),
    [
        ("to_thread", lambda: asyncio.to_thread(time.time)),
        ("open_connection", lambda: asyncio.open_connection("example.com", 80)),
        ("create_subprocess_exec", lambda: asyncio.create_subprocess_exec("ls")),
    ],
)
def test_forbidden_asyncio_helpers_inside_workflow(
    drv: Driver, what: str, make: Callable[[], Awaitable[Any]]
) -> None:
    async def wf() -> None:
        await make()

    task = drv.start(wf())
    with pytest.raises(WorkflowSandboxError, match='Move it into a "use step" function'):
        task.result()


# --- close ----------------------------------------------------------------------------------------


def test_close_cancels_pending_work_without_warnings() -> None:
    drv = Driver()
    log: list[str] = []

    async def waits_on_future() -> None:
        try:
            await drv.loop.create_future()
        finally:
            log.append("future")

    async def sleeps() -> None:
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            await asyncio.sleep(10)  # a new timer while closing: not reported
            raise
        finally:
            log.append("sleep")

    async def stubborn() -> None:
        while True:
            try:
                await drv.loop.create_future()
            except asyncio.CancelledError:
                log.append("ignored cancel")

    for coro in (waits_on_future(), sleeps(), stubborn()):
        drv.start(coro)
    drv.loop.create_task(asyncio.sleep(1))  # created, never started
    n_timers = len(drv.timers)
    drv.loop.close()
    assert drv.loop.is_closed()
    assert log.count("future") == 1 and log.count("sleep") == 1
    assert "ignored cancel" in log
    assert len(drv.timers) == n_timers
    del coro
    gc.collect()
    assert drv.loop.exceptions == []
    with pytest.raises(RuntimeError):
        drv.loop.run_until_quiescent()
    with pytest.raises(RuntimeError):
        drv.loop.create_task(asyncio.sleep(0))
    drv.loop.close()  # idempotent


# --- determinism and speed ---------------------------------------------------------------------


def test_random_is_seeded() -> None:
    a, b, c = Driver(seed=1), Driver(seed=1), Driver(seed=2)
    assert [a.loop.random.random() for _ in range(3)] == [b.loop.random.random() for _ in range(3)]
    assert a.loop.random.random() != c.loop.random.random()
    for d in (a, b, c):
        d.loop.close()


def test_many_future_cycles_in_one_run() -> None:
    # Its speed (cycles per second) is measured by bench/loop.py.
    drv = Driver()
    n = 5_000
    box: list[asyncio.Future[int]] = []

    async def wf() -> int:
        total = 0
        for _ in range(n):
            fut = drv.loop.create_future()
            box.append(fut)
            total += await fut
        return total

    task = drv.start(wf())
    while not task.done():
        box.pop().set_result(1)
        drv.loop.run_until_quiescent()
    assert task.result() == n and box == []
    drv.loop.close()


ALL_FORBIDDEN = (
    "run_forever run_until_complete stop call_soon_threadsafe run_in_executor "
    "set_default_executor getaddrinfo getnameinfo create_connection create_server "
    "create_unix_connection create_unix_server create_datagram_endpoint "
    "connect_accepted_socket connect_read_pipe connect_write_pipe sendfile start_tls "
    "subprocess_exec subprocess_shell add_reader remove_reader add_writer remove_writer "
    "add_signal_handler remove_signal_handler sock_recv sock_recv_into sock_recvfrom "
    "sock_recvfrom_into sock_sendall sock_sendto sock_connect sock_accept sock_sendfile"
).split()


@pytest.mark.parametrize("name", ALL_FORBIDDEN)
def test_every_io_method_is_refused_by_name(drv: Driver, name: str) -> None:
    with pytest.raises(WorkflowSandboxError) as info:
        getattr(drv.loop, name)()
    assert str(info.value).startswith(f"loop.{name}() ")
    assert str(info.value).endswith('Move it into a "use step" function.')
