"""The sync-step threads: a caller that stops waiting frees its slot at once."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator

import pytest

from wdk.runtime.step_threads import StepThreads

DEADLINE = 10.0


async def until(check: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + DEADLINE
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.005)


class Gate:
    """Calls that block until the test opens the gate, counting who got in and out."""

    def __init__(self) -> None:
        self.open = threading.Event()
        self.entered = 0
        self.left = 0
        self._lock = threading.Lock()

    def call(self, value: int) -> Callable[[], int]:
        def blocked() -> int:
            with self._lock:
                self.entered += 1
            self.open.wait()
            with self._lock:
                self.left += 1
            return value

        return blocked


@pytest.fixture
def gate() -> Iterator[Gate]:
    g = Gate()
    try:
        yield g
    finally:
        g.open.set()


async def test_timed_out_calls_free_their_slots(gate: Gate) -> None:
    threads = StepThreads(2)
    hung = await asyncio.gather(
        *(threads.run(gate.call(i), timeout=0.05) for i in range(3)), return_exceptions=True
    )
    assert [type(e) for e in hung] == [TimeoutError] * 3
    assert gate.entered == 3  # the third got a slot once a timed-out one gave it back
    assert threads.running == 0
    assert await threads.run(lambda: "next", timeout=5) == "next"
    gate.open.set()  # the abandoned calls return; their results go nowhere
    await until(lambda: gate.left == 3, "the abandoned calls to return")
    assert threads.running == 0


async def test_at_most_limit_calls_hold_a_slot(gate: Gate) -> None:
    threads = StepThreads(2)
    calls = [asyncio.ensure_future(threads.run(gate.call(i))) for i in range(4)]
    await until(lambda: gate.entered == 2, "two calls to start")
    assert threads.running == 2 and not any(c.done() for c in calls)
    gate.open.set()
    assert await asyncio.gather(*calls) == [0, 1, 2, 3]
    assert gate.entered == 4 and threads.running == 0


async def test_a_cancelled_caller_frees_its_slot(gate: Gate) -> None:
    threads = StepThreads(1)
    running = asyncio.ensure_future(threads.run(gate.call(1)))
    await until(lambda: gate.entered == 1, "the call to start")
    waiting = asyncio.ensure_future(threads.run(gate.call(2)))
    await asyncio.sleep(0)  # let it queue for the slot
    waiting.cancel()  # gives up before it had a slot
    running.cancel()  # gives up while its call runs: the thread is abandoned
    for task in (running, waiting):
        with pytest.raises(asyncio.CancelledError):
            await task
    assert threads.running == 0
    assert await threads.run(lambda: 3, timeout=5) == 3
    assert gate.entered == 1  # the cancelled waiter never ran


async def test_results_errors_and_threads() -> None:
    threads = StepThreads(1)

    def whoami() -> tuple[int, bool]:
        me = threading.current_thread()
        return me.ident or 0, me.daemon

    first, daemon = await threads.run(whoami)
    assert daemon, "step threads must not keep the process alive"
    second, _ = await threads.run(whoami)
    assert second == first, "an idle thread is reused"

    def fail() -> None:
        raise KeyError("k")

    with pytest.raises(KeyError):
        await threads.run(fail)
    assert threads.running == 0
    with pytest.raises(ValueError, match="at least 1"):
        StepThreads(0)


_FORK = """
import asyncio, os, sys
from wdk.runtime.steps import step_threads

asyncio.run(step_threads().run(lambda: None))  # leaves an idle thread behind
pid = os.fork()
if pid == 0:  # the child has no thread: it must not hand its call to the parent's
    ok = asyncio.run(asyncio.wait_for(step_threads().run(lambda: "child"), 10)) == "child"
    os._exit(0 if ok else 1)
_, status = os.waitpid(pid, 0)
sys.exit(os.waitstatus_to_exitcode(status))
"""


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_a_forked_child_gets_threads_of_its_own() -> None:
    done = subprocess.run([sys.executable, "-c", _FORK], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
