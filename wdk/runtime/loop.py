"""The deterministic event loop that workflow code runs on.

`WorkflowLoop` is an `asyncio.AbstractEventLoop`, so ordinary asyncio (tasks,
`gather`, `wait`, `wait_for`, `timeout`, `TaskGroup`, queues, locks) works in
workflow code. It never blocks and never does I/O: the orchestrator drives it

* `run_until_quiescent()` runs ready callbacks until nothing is runnable;
* every timer (`call_at`/`call_later` with a positive delay, hence
  `asyncio.sleep(n)`) is a durable wait: it is reported to `timer_hook` (which
  may refuse it by raising) and only runs when the orchestrator calls
  `fire_timer(handle)`;
* `time()` is virtual: it moves only when the orchestrator calls `set_time`.

Deterministic helpers (random, uuid, now, sleep) find the current run through
`asyncio.get_running_loop()`, never through globals.
"""

from __future__ import annotations

import asyncio
import functools
import random
import sys
import weakref
from asyncio import events, format_helpers, futures, tasks
from collections import deque
from collections.abc import Callable, Coroutine, Generator
from contextvars import Context
from types import AsyncGeneratorType
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar, TypeVarTuple

from wdk.runtime import callsite

if TYPE_CHECKING:
    from wdk.runtime.instance import WorkflowInstance

__all__ = ["WorkflowLoop"]

_T = TypeVar("_T")
_Ts = TypeVarTuple("_Ts")

ExceptionHandler = Callable[[asyncio.AbstractEventLoop, dict[str, Any]], object]
TaskFactory = Callable[..., Any]

# A task that keeps catching CancelledError gets this many cancel-and-drain
# rounds in close() before its coroutine is closed by force.
_CLOSE_ROUNDS = 3


def _forbidden(call: str, reason: str) -> Callable[..., NoReturn]:
    """A loop method that real loops implement with I/O or threads."""

    def method(self: WorkflowLoop, *args: Any, **kwargs: Any) -> NoReturn:
        for arg in args:  # don't leave a coroutine argument "never awaited"
            if isinstance(arg, Coroutine):
                arg.close()
        raise callsite.refused(call, f'{reason}. Move it into a "use step" function.')

    method.__name__ = call.split("(")[0].rsplit(".", 1)[-1]
    return method


_IO = "it does real I/O"

_new_handle = object.__new__  # Handle has no __new__ of its own


class WorkflowLoop(asyncio.AbstractEventLoop):
    """A single-threaded, I/O-free event loop with virtual time and durable timers."""

    def __init__(
        self,
        *,
        run_id: str,
        seed: int,
        start_time: float,
        timer_hook: Callable[[asyncio.TimerHandle], None],
    ) -> None:
        self.run_id = run_id
        # The run this loop executes: how workflow-side helpers find it
        # (`wdk.runtime.current.current_instance`). Set by the instance.
        self.instance: WorkflowInstance | None = None
        self._seed = seed  # of `random`
        # Contexts of exceptions that escaped callbacks (the orchestrator reports them).
        self.exceptions: list[dict[str, Any]] = []
        # True while close() cancels tasks: the orchestrator should not record
        # new commands (steps, waits) that the cancelled code issues.
        self.closing = False
        self._time = float(start_time)
        self._timer_hook = timer_hook
        self._ready: deque[events.Handle] = deque()
        self._running = False
        self._closed = False
        self._debug = False
        self._task_count = 0
        # Tasks made here, weakly, for close(): the first (the workflow's main
        # task), then the others in a set made with the second (most workflows
        # make one task; a WeakSet costs to make and to walk).
        self._first_task: weakref.ref[asyncio.Task[Any]] | None = None
        self._tasks: weakref.WeakSet[asyncio.Task[Any]] | None = None
        # Async generators first iterated here: made with the first one (most
        # workflows have none, and a WeakSet costs to make and to walk at close).
        self._asyncgens: weakref.WeakSet[AsyncGeneratorType[Any, Any]] | None = None
        self._exception_handler: ExceptionHandler | None = None
        self._task_factory: TaskFactory | None = None
        self._asyncgen_hooks = (self._asyncgen_firstiter, self._asyncgen_finalizer)

    @functools.cached_property
    def random(self) -> random.Random:
        """The run's only source of randomness: random, uuid4, secrets, os.urandom.
        Made on first use: seeding one costs more than the rest of a loop, and
        most workflows never draw."""
        return random.Random(self._seed)

    def __repr__(self) -> str:
        return f"<WorkflowLoop run_id={self.run_id!r} time={self._time} running={self._running}>"

    # --- driven by the orchestrator ------------------------------------------

    def set_time(self, t: float) -> None:
        """Move virtual time to `t` (the time of the event being applied).

        Time never goes back: an earlier `t` (clock skew between workers) is
        ignored, so `time.monotonic()` in a workflow stays monotonic."""
        if t > self._time:
            self._time = float(t)

    def run_until_quiescent(self) -> None:
        """Run ready callbacks until none is left.

        The loop is the running loop only for the duration, and the previous
        one (the orchestrator's real loop) is always restored."""
        if self._closed:
            raise RuntimeError("WorkflowLoop is closed")
        if self._running:
            raise RuntimeError("WorkflowLoop.run_until_quiescent() is already running")
        previous_loop = events._get_running_loop()
        # Async generators first iterated in workflow code must be finalized
        # here, not by the outer real loop (whose hooks are installed now).
        previous_hooks = sys.get_asyncgen_hooks()
        sys.set_asyncgen_hooks(*self._asyncgen_hooks)  # type: ignore[arg-type]
        events._set_running_loop(self)
        self._running = True
        try:
            ready = self._ready
            popleft = ready.popleft
            while ready:
                handle: Any = popleft()
                if handle._cancelled:
                    continue
                # Handle._run, inlined (one frame less per callback): the same
                # call, the same report of an error.
                try:
                    handle._context.run(handle._callback, *handle._args)
                except (SystemExit, KeyboardInterrupt):
                    raise
                except BaseException as exc:
                    self._callback_failed(handle, exc)
        finally:
            self._running = False
            events._set_running_loop(previous_loop)
            sys.set_asyncgen_hooks(*previous_hooks)

    def _callback_failed(self, handle: events.Handle, exc: BaseException) -> None:
        """What Handle._run reports when its callback raises."""
        cb = format_helpers._format_callback_source(handle._callback, handle._args)  # type: ignore[attr-defined]
        context: dict[str, Any] = {"message": f"Exception in callback {cb}", "exception": exc, "handle": handle}
        if handle._source_traceback:  # type: ignore[attr-defined]
            context["source_traceback"] = handle._source_traceback  # type: ignore[attr-defined]
        self.call_exception_handler(context)

    def fire_timer(self, handle: asyncio.TimerHandle) -> None:
        """A durable wait completed: make its callback ready (no-op if cancelled or fired)."""
        timer: Any = handle  # typeshed omits TimerHandle's _loop and _scheduled
        if timer._loop is not self:
            raise ValueError("this timer belongs to another loop")
        if timer._cancelled or not timer._scheduled:
            return
        timer._scheduled = False
        self._ready.append(timer)

    def has_ready(self) -> bool:
        """True when callbacks are waiting for `run_until_quiescent()`."""
        return bool(self._ready)

    # --- scheduling -----------------------------------------------------------------

    def time(self) -> float:
        """Virtual time (unix seconds): the time of the event being replayed."""
        return self._time

    def call_soon(
        self, callback: Callable[[*_Ts], object], *args: *_Ts, context: Context | None = None
    ) -> events.Handle:
        if context is None or self._debug:
            handle = events.Handle(callback, args, self, context)
        else:
            # Handle.__init__, inlined (futures and tasks always pass their
            # context): no __init__ frame and no get_debug() call per wake-up.
            handle = _new_handle(events.Handle)
            fields: Any = handle
            fields._context = context
            fields._loop = self
            fields._callback = callback
            fields._args = args
            fields._cancelled = False
            fields._repr = None
            fields._source_traceback = None
        self._ready.append(handle)
        return handle

    def call_later(
        self,
        delay: float,
        callback: Callable[[*_Ts], object],
        *args: *_Ts,
        context: Context | None = None,
    ) -> events.TimerHandle:
        return self.call_at(self._time + delay, callback, *args, context=context)

    def call_at(
        self,
        when: float,
        callback: Callable[[*_Ts], object],
        *args: *_Ts,
        context: Context | None = None,
    ) -> events.TimerHandle:
        handle = events.TimerHandle(when, callback, args, self, context)
        if when <= self._time:
            self._ready.append(handle)  # no delay: behaves as call_soon
            return handle
        if not self.closing:
            self._timer_hook(handle)  # may refuse the timer: then it never existed
        handle._scheduled = True  # type: ignore[attr-defined]
        return handle

    def _timer_handle_cancelled(self, handle: events.TimerHandle) -> None:
        # Called by TimerHandle.cancel(); a cancelled handle never fires.
        handle._scheduled = False  # type: ignore[attr-defined]

    def create_future(self) -> asyncio.Future[Any]:
        return futures.Future(loop=self)

    def create_task(  # **kwargs: eager_start and later additions
        self,
        coro: Coroutine[Any, Any, _T] | Generator[Any, None, _T],
        *,
        name: str | None = None,
        context: Context | None = None,
        **kwargs: Any,
    ) -> asyncio.Task[_T]:
        if self._closed:
            if isinstance(coro, Coroutine):
                coro.close()
            raise RuntimeError("WorkflowLoop is closed")
        self._task_count += 1
        if context is None and self._running:
            # Remember where workflow code made this task (`gather`, `create_task`):
            # a step it runs has no user frame on its stack to name.
            context = callsite.task_context(sys._getframe(1))
        if name is None:
            # Deterministic names: asyncio's default counter is process-global.
            name = f"workflow-task-{self._task_count}"
        if self._task_factory is None:
            task: asyncio.Task[_T] = tasks.Task(
                coro, loop=self, name=name, context=context, **kwargs
            )
        else:
            if context is None:
                task = self._task_factory(self, coro, **kwargs)
            else:
                task = self._task_factory(self, coro, context=context, **kwargs)
            task.set_name(name)
        if self._first_task is None:
            self._first_task = weakref.ref(task)
        else:
            if self._tasks is None:
                self._tasks = weakref.WeakSet()
            self._tasks.add(task)
        return task

    def set_task_factory(self, factory: TaskFactory | None) -> None:
        self._task_factory = factory

    def get_task_factory(self) -> TaskFactory | None:
        return self._task_factory

    # --- state ------------------------------------------------------------------------

    def is_running(self) -> bool:
        return self._running

    def is_closed(self) -> bool:
        return self._closed

    # C futures and tasks ask get_debug() as they are made (a step call makes
    # one): while debug is off a builtin answers, with no Python frame.
    get_debug = staticmethod(bool)

    def set_debug(self, enabled: bool) -> None:
        self._debug = enabled
        # An instance attribute wins over the class's (a non-data descriptor).
        self.get_debug = functools.partial(bool, enabled)

    def close(self) -> None:
        """Cancel outstanding tasks and async generators, then close.

        Cancellation runs the workflow's `except`/`finally` code on this loop
        (no I/O is possible here); `closing` is True meanwhile and new timers
        are not reported. A task that refuses to finish has its coroutine
        closed, so nothing warns about pending tasks or unawaited coroutines."""
        if self._closed:
            return
        if self._running:
            raise RuntimeError("cannot close a WorkflowLoop from inside itself")
        self.closing = True
        try:
            settled = False  # no task left to finish, and nothing ran since that was seen
            for _ in range(_CLOSE_ROUNDS):
                pending = [t for t in self._all_tasks() if not t.done()]
                if not pending:
                    settled = True
                    break
                for task in pending:
                    task.cancel()
                self.run_until_quiescent()
            agens = self._asyncgens
            if agens:
                for agen in list(agens):
                    agens.discard(agen)
                    self.create_task(agen.aclose())
                settled = False
            if self._ready:
                self.run_until_quiescent()
                settled = False
            if not settled:
                for task in self._all_tasks():
                    if not task.done():
                        self._force_close(task)
        finally:
            self._ready.clear()
            self._closed = True

    def _all_tasks(self) -> list[asyncio.Task[Any]]:
        first = None if self._first_task is None else self._first_task()
        tasks = [] if first is None else [first]
        return tasks if self._tasks is None else tasks + list(self._tasks)

    @staticmethod
    def _force_close(task: asyncio.Task[Any]) -> None:
        task._log_destroy_pending = False  # type: ignore[attr-defined]
        coro = task.get_coro()
        try:
            if isinstance(coro, Coroutine):
                coro.close()
        except RuntimeError:  # "coroutine ignored GeneratorExit"
            pass

    async def shutdown_asyncgens(self) -> None:
        agens = self._asyncgens
        if agens is None:
            return
        for agen in list(agens):
            agens.discard(agen)
            await agen.aclose()

    async def shutdown_default_executor(self, timeout: float | None = None) -> None:
        return None  # there is never an executor

    def _asyncgen_firstiter(self, agen: AsyncGeneratorType[Any, Any]) -> None:
        if self._asyncgens is None:
            self._asyncgens = weakref.WeakSet()
        self._asyncgens.add(agen)

    def _asyncgen_finalizer(self, agen: AsyncGeneratorType[Any, Any]) -> None:
        if self._asyncgens is not None:  # it is: the agen was first iterated here
            self._asyncgens.discard(agen)
        if not self._closed:
            self.call_soon(self.create_task, agen.aclose())

    # --- errors -----------------------------------------------------------------------

    def get_exception_handler(self) -> ExceptionHandler | None:
        return self._exception_handler

    def set_exception_handler(self, handler: ExceptionHandler | None) -> None:
        self._exception_handler = handler

    def default_exception_handler(self, context: dict[str, Any]) -> None:
        """Keep the error for the orchestrator; never print (workflow code replays)."""
        self.exceptions.append(context)

    def call_exception_handler(self, context: dict[str, Any]) -> None:
        if self._exception_handler is None:
            self.default_exception_handler(context)
            return
        try:
            self._exception_handler(self, context)
        except BaseException as exc:  # a broken handler must not break the loop
            self.default_exception_handler(
                {
                    "message": "Unhandled error in exception handler",
                    "exception": exc,
                    "context": context,
                }
            )

    # --- what a workflow may not do ------------------------------------------------------

    run_forever = _forbidden("loop.run_forever()", "workflow code must not drive event loops")
    run_until_complete = _forbidden(
        "loop.run_until_complete()", "workflow code must not drive event loops"
    )
    stop = _forbidden("loop.stop()", "workflow code must not drive event loops")
    call_soon_threadsafe = _forbidden(  # type: ignore[assignment]
        "loop.call_soon_threadsafe()", "workflows have no threads"
    )
    run_in_executor = _forbidden(  # type: ignore[assignment]
        "loop.run_in_executor() (and asyncio.to_thread())", "it runs code in a thread"
    )
    set_default_executor = _forbidden("loop.set_default_executor()", "it runs code in threads")
    getaddrinfo = _forbidden("loop.getaddrinfo()", "it resolves names over the network")
    getnameinfo = _forbidden("loop.getnameinfo()", "it resolves names over the network")
    create_connection = _forbidden("loop.create_connection()", _IO)
    create_server = _forbidden("loop.create_server()", _IO)
    create_unix_connection = _forbidden("loop.create_unix_connection()", _IO)
    create_unix_server = _forbidden("loop.create_unix_server()", _IO)
    create_datagram_endpoint = _forbidden("loop.create_datagram_endpoint()", _IO)
    connect_accepted_socket = _forbidden("loop.connect_accepted_socket()", _IO)
    connect_read_pipe = _forbidden("loop.connect_read_pipe()", _IO)
    connect_write_pipe = _forbidden("loop.connect_write_pipe()", _IO)
    sendfile = _forbidden("loop.sendfile()", _IO)
    start_tls = _forbidden("loop.start_tls()", _IO)
    subprocess_exec = _forbidden("loop.subprocess_exec()", "it starts a process")
    subprocess_shell = _forbidden("loop.subprocess_shell()", "it starts a process")
    add_reader = _forbidden("loop.add_reader()", _IO)  # type: ignore[assignment]
    remove_reader = _forbidden("loop.remove_reader()", _IO)
    add_writer = _forbidden("loop.add_writer()", _IO)  # type: ignore[assignment]
    remove_writer = _forbidden("loop.remove_writer()", _IO)
    add_signal_handler = _forbidden("loop.add_signal_handler()", "it handles process signals")  # type: ignore[assignment]
    remove_signal_handler = _forbidden("loop.remove_signal_handler()", "it handles process signals")
    sock_recv = _forbidden("loop.sock_recv()", _IO)
    sock_recv_into = _forbidden("loop.sock_recv_into()", _IO)
    sock_recvfrom = _forbidden("loop.sock_recvfrom()", _IO)
    sock_recvfrom_into = _forbidden("loop.sock_recvfrom_into()", _IO)
    sock_sendall = _forbidden("loop.sock_sendall()", _IO)
    sock_sendto = _forbidden("loop.sock_sendto()", _IO)
    sock_connect = _forbidden("loop.sock_connect()", _IO)
    sock_accept = _forbidden("loop.sock_accept()", _IO)
    sock_sendfile = _forbidden("loop.sock_sendfile()", _IO)


# It runs callbacks itself (no Handle._run frame): a task's stack begins there.
callsite.stack_begins_at(WorkflowLoop.run_until_quiescent.__code__)
