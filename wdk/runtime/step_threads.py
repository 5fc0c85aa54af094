"""The threads that run plain-`def` steps, where a timeout gives capacity back.

At most `limit` calls hold a slot at once (WDK_STEP_THREADS). A caller that
stops waiting (its timeout passed, or its task was cancelled) gives its slot
back at once; its thread is abandoned: Python cannot stop a thread, so the
call runs on until it returns, its result is dropped, and the thread then
serves later calls. A thread pool would keep the slot until then, and a few
hung calls would stall every later sync step.

The threads are daemon threads that nothing joins, so a process exits (on
SIGTERM, at the end of `asyncio.run`) without waiting for an abandoned call.
Idle threads are reused; each waits IDLE_SECONDS for work, then ends.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import os
import queue
import threading
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")
IDLE_SECONDS = 60.0

_Waiter = tuple[asyncio.AbstractEventLoop, "asyncio.Future[None]"]


class _Call:
    """One call: run in a thread, answered on the caller's loop."""

    __slots__ = ("answer", "fn", "holds_slot", "loop")

    def __init__(self, fn: Callable[[], Any], loop: asyncio.AbstractEventLoop) -> None:
        self.fn = fn
        self.loop = loop
        self.answer: asyncio.Future[Any] = loop.create_future()
        self.holds_slot = True


class StepThreads:
    """Run blocking calls on daemon threads, at most `limit` counted at once.

    Example: `result = await StepThreads(4).run(lambda: charge(order), timeout=30)`.
    """

    def __init__(self, limit: int) -> None:
        if limit < 1:
            raise ValueError(f"the step thread limit must be at least 1, got {limit}")
        self.limit = limit
        self.pid = os.getpid()  # the process whose threads these are
        self._lock = threading.Lock()
        self._running = 0  # calls holding a slot
        self._waiters: collections.deque[_Waiter] = collections.deque()
        self._idle: list[queue.SimpleQueue[_Call]] = []  # inboxes of idle threads

    @property
    def running(self) -> int:
        """Calls that hold a slot now (abandoned ones do not)."""
        return self._running

    async def run(self, fn: Callable[[], T], timeout: float | None = None) -> T:
        """`fn()` in a thread; TimeoutError after `timeout` seconds of running
        (the wait for a free slot does not count)."""
        await self._acquire()
        call = _Call(fn, asyncio.get_running_loop())
        try:
            self._dispatch(call)
        except BaseException:
            self._give_back(call)
            raise
        try:
            result: T = await asyncio.wait_for(call.answer, timeout)
            return result
        finally:
            # Done, timed out or cancelled: either way this caller no longer
            # counts against the limit (a no-op if the thread gave it back).
            self._give_back(call)

    # --- slots -----------------------------------------------------------------

    async def _acquire(self) -> None:
        loop = asyncio.get_running_loop()
        with self._lock:
            if self._running < self.limit:
                self._running += 1
                return
            waiter: asyncio.Future[None] = loop.create_future()
            self._waiters.append((loop, waiter))
        try:
            await waiter  # resolved by _hand_over: the slot is ours
        except asyncio.CancelledError:
            with self._lock:
                try:
                    self._waiters.remove((loop, waiter))
                except ValueError:
                    pass  # already handed over: _hand_over passes it on
            raise

    def _give_back(self, call: _Call) -> None:
        with self._lock:
            if not call.holds_slot:
                return
            call.holds_slot = False
        self._release()

    def _release(self) -> None:
        """Free one slot: hand it to the first waiter, else uncount it."""
        with self._lock:
            while self._waiters:
                loop, waiter = self._waiters.popleft()
                with contextlib.suppress(RuntimeError):  # its loop is closed: next one
                    loop.call_soon_threadsafe(self._hand_over, waiter)
                    return
            self._running -= 1

    def _hand_over(self, waiter: asyncio.Future[None]) -> None:
        # On the waiter's loop. A waiter cancelled since it was chosen passes the slot on.
        if waiter.done():
            self._release()
        else:
            waiter.set_result(None)

    # --- threads ---------------------------------------------------------------

    def _dispatch(self, call: _Call) -> None:
        with self._lock:
            inbox = self._idle.pop() if self._idle else None
        if inbox is not None:
            inbox.put(call)
            return
        threading.Thread(target=self._serve, args=(call,), name="wdk-step", daemon=True).start()

    def _serve(self, call: _Call | None) -> None:
        inbox: queue.SimpleQueue[_Call] = queue.SimpleQueue()
        while call is not None:
            try:
                ok, value = True, call.fn()
            except BaseException as exc:  # the caller decides what it means
                ok, value = False, exc
            self._give_back(call)
            # Idle before answering: the caller's next call finds this thread.
            with self._lock:
                self._idle.append(inbox)
            with contextlib.suppress(RuntimeError):  # the caller's loop is gone
                call.loop.call_soon_threadsafe(_answer, call.answer, ok, value)
            del value
            call = self._next(inbox)

    def _next(self, inbox: queue.SimpleQueue[_Call]) -> _Call | None:
        """The next call handed to this idle thread, or None after IDLE_SECONDS."""
        try:
            return inbox.get(timeout=IDLE_SECONDS)
        except queue.Empty:
            with self._lock:
                if inbox in self._idle:
                    self._idle.remove(inbox)
                    return None
            return inbox.get()  # a call was handed to us as we timed out


def _answer(fut: asyncio.Future[Any], ok: bool, value: Any) -> None:
    if fut.done():  # the caller gave up: an abandoned call's result is dropped
        return
    if ok:
        fut.set_result(value)
    else:
        fut.set_exception(value)
