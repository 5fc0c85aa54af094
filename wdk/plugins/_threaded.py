"""wdk for threaded, synchronous apps (Flask, WSGI Django).

The embedded runtime belongs to one event loop, so it gets a loop of its own
in a daemon thread, started on first use (after a server's fork, not
before) and stopped at exit. Request threads hand it coroutines and wait:

    run_id = start(process_order, "ord_1")
    print(result(run_id, timeout=30))
"""

from __future__ import annotations

import asyncio
import atexit
import concurrent.futures
import os
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Iterator
from typing import Any, ParamSpec, TypeVar, overload

import msgspec

from wdk import api
from wdk.plugins._core import (
    Reply,
    Stream,
    health_reply,
    open_stream,
    too_large,
    webhook_limit,
    webhook_reply,
)
from wdk.runtime import tracing
from wdk.runtime.engine import get_runtime, shutdown_runtime

T = TypeVar("T")
P = ParamSpec("P")
_END = object()


class BackgroundLoop:
    """An event loop in a daemon thread that owns the embedded runtime."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._thread: threading.Thread | None = None
        self._pid = 0
        self._atexit = False

    def loop(self) -> asyncio.AbstractEventLoop:
        """The loop, started (with its runtime) if it is not running yet."""
        with self._lock:
            # A forked child inherits our fields but not the thread: start anew.
            if self._loop is None or self._pid != os.getpid():
                self._start()
            assert self._loop is not None
            return self._loop

    def _start(self) -> None:
        ready: concurrent.futures.Future[None] = concurrent.futures.Future()
        thread = threading.Thread(target=asyncio.run, args=(self._main(ready),), name="wdk-runtime", daemon=True)
        thread.start()
        ready.result()  # the runtime's configuration errors surface here
        self._thread, self._pid = thread, os.getpid()
        if not self._atexit:
            atexit.register(self.stop)
            self._atexit = True

    async def _main(self, ready: concurrent.futures.Future[None]) -> None:
        try:
            await get_runtime()
        except BaseException as exc:
            ready.set_exception(exc)
            return
        self._loop, self._stop = asyncio.get_running_loop(), asyncio.Event()
        ready.set_result(None)
        try:
            await self._stop.wait()
        finally:
            await shutdown_runtime()

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run `coro` on the loop and wait for its result."""
        loop = self.loop()
        if threading.current_thread() is self._thread:
            coro.close()
            # Waiting here would block the very loop that has to do the work.
            raise RuntimeError("in async code (a step, a coroutine) use `await wdk.api.start(...)` and friends")
        return asyncio.run_coroutine_threadsafe(coro, loop).result()

    def iterate(self, items: AsyncIterator[T]) -> Iterator[T]:
        """An async iterator, consumed from this thread (closed with the generator)."""

        async def step() -> Any:
            return await anext(items, _END)

        try:
            while (item := self.run(step())) is not _END:
                yield item
        finally:
            aclose: Callable[[], Coroutine[Any, Any, None]] | None = getattr(items, "aclose", None)
            if aclose is not None and self._loop is not None:
                self.run(aclose())

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the runtime and the loop (a later call starts them again)."""
        with self._lock:
            loop, stop, thread = self._loop, self._stop, self._thread
            self._loop = self._stop = self._thread = None
            if loop is None or stop is None or thread is None or self._pid != os.getpid():
                return
            loop.call_soon_threadsafe(stop.set)
            thread.join(timeout)


background = BackgroundLoop()


@overload
def start(workflow: Callable[P, Awaitable[Any]], /, *args: P.args, **kwargs: P.kwargs) -> str: ...
@overload
def start(workflow: str, /, *args: Any, **kwargs: Any) -> str: ...
def start(workflow: Callable[..., Awaitable[Any]] | str, /, *args: Any, **kwargs: Any) -> str:
    """Start a run (as `wdk.api.start`) and return its id. The request
    thread's current span (or the request's traceparent) is the run's parent:
    the runtime's thread does not share the request's context, so it is handed over."""
    return background.run(_start_under(tracing.traceparent(), workflow, args, kwargs)).id


async def _start_under(
    parent: str | None, workflow: Callable[..., Awaitable[Any]] | str, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> api.Run[Any]:
    with tracing.incoming_traceparent(parent):
        return await api.start(workflow, *args, **kwargs)


def result(run_id: str, timeout: float | None = None) -> Any:
    """Wait for the run to end and return its result (as `Run.result`)."""
    return background.run(api.get_run(run_id).result(timeout))


def resume_hook(token: str, payload: Any) -> str:
    """Send `payload` to the hook `token` (as `wdk.api.resume_hook`); the run's id."""
    return background.run(api.resume_hook(token, payload)).id


def stop() -> None:
    """Stop the background runtime now (it also stops at exit)."""
    background.stop()


def read_webhook(
    token: str, method: str, url: str, headers: Any, length: int | None, read: Any, client: str | None = None
) -> Reply:
    """The webhook endpoint for a WSGI request: `read(n)` reads up to n bytes of
    the body; `client` is the peer address (for the guess limit)."""
    limit = webhook_limit()
    if length is not None and length > limit:
        return too_large(limit)
    body: bytes = read(limit + 1)
    if len(body) > limit:
        return too_large(limit)
    return background.run(webhook_reply(token, method, url, list(headers), body, client))


def read_stream(
    run_id: str, *, accept: str, start: str | None, last_event_id: str | None, namespace: str | None
) -> Reply | tuple[dict[str, str], Iterator[bytes]]:
    """A run's stream endpoint: the error reply, or (headers, body chunks)."""
    opened = background.run(
        open_stream(run_id, accept=accept, start=start, last_event_id=last_event_id, namespace=namespace)
    )
    if isinstance(opened, Reply):
        return opened
    assert isinstance(opened, Stream)
    return opened.headers, background.iterate(opened.chunks)


def read_health() -> Reply:
    """The health endpoint (the runtime's loop is started if it is not yet)."""
    try:
        return background.run(health_reply())
    except Exception as exc:  # the runtime could not start: its world is down
        body = {"status": "unavailable", "reason": f"the runtime cannot start: {exc}"}
        return Reply(503, msgspec.json.encode(body), {"content-type": "application/json"})
