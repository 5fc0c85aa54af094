"""Hooks: a workflow waits for data sent from outside (`resume_hook`).

    hook = create_hook()                  # token: unguessable, stable on replay
    await notify_reviewer(hook.token)     # a step sends the token somewhere
    decision = await hook                 # one payload
    async for event in hook: ...          # or many

Typed hooks (`define_hook`) are in `wdk.client.hook_definition`.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator, Callable, Generator
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from wdk.errors import HookConflict, HookNotFound, WorkflowSandboxError
from wdk.runtime.current import require_instance
from wdk.worlds.base import TERMINAL_STATUSES, World

T = TypeVar("T")


class Hook(Generic[T]):
    """The workflow side of a hook. Awaiting it gives the next payload."""

    def __init__(
        self, token: str, correlation_id: str, on_dispose: Callable[[], None] | None = None
    ) -> None:
        self.token = token
        self.correlation_id = correlation_id
        self._payloads: list[Any] = []
        self._waiters: deque[asyncio.Future[Any]] = deque()
        self._cursor = 0
        self._conflict = False
        self._disposed = False
        self._on_dispose = on_dispose

    def __repr__(self) -> str:
        return f"Hook(token={self.token!r})"

    # --- fed by the instance as events are applied -------------------------------

    def _deliver(self, payload: Any) -> None:
        self._payloads.append(payload)
        while self._waiters and self._cursor < len(self._payloads):
            fut = self._waiters.popleft()
            if not fut.done():
                fut.set_result(self._payloads[self._cursor])
                self._cursor += 1

    def _set_conflict(self) -> None:
        self._conflict = True
        while self._waiters:
            fut = self._waiters.popleft()
            if not fut.done():
                fut.set_exception(HookConflict(self.token))

    def _set_disposed(self) -> None:
        self._disposed = True
        while self._waiters:
            fut = self._waiters.popleft()
            if not fut.done():
                fut.set_exception(self._disposed_error())

    def _disposed_error(self) -> Exception:
        return RuntimeError(f"hook {self.token!r} was disposed: it takes no more payloads")

    # --- workflow code --------------------------------------------------------------

    def dispose(self) -> None:
        """Stop taking payloads, while the run goes on. Recorded as
        `hook_disposed`; the token is free for another hook (and
        `resume_hook` with it raises HookNotFound until one takes it).
        Awaiting the hook afterwards raises; `async for` over it ends."""
        if self._on_dispose is None:
            raise WorkflowSandboxError("Hook.dispose() can only be called in the workflow that made the hook")
        if not self._disposed:
            self._on_dispose()
            self._set_disposed()

    def _next(self) -> asyncio.Future[Any]:
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[Any] = loop.create_future()
        if self._conflict:
            fut.set_exception(HookConflict(self.token))
        elif self._disposed:
            fut.set_exception(self._disposed_error())
        elif self._cursor < len(self._payloads):
            fut.set_result(self._payloads[self._cursor])
            self._cursor += 1
        else:
            self._waiters.append(fut)
        return fut

    def __await__(self) -> Generator[Any, None, T]:
        return self._next().__await__()

    def __aiter__(self) -> AsyncIterator[T]:
        return self

    async def __anext__(self) -> T:
        if self._disposed:
            raise StopAsyncIteration
        try:
            result: T = await self._next()
        except RuntimeError:
            if self._disposed:  # disposed while we waited
                raise StopAsyncIteration from None
            raise
        return result


def create_hook(token: str | None = None, *, metadata: dict[str, Any] | None = None) -> Hook[Any]:
    """Create a hook in the running workflow. Without `token`, one with 128
    random bits is made (deterministic on replay, unguessable outside)."""
    return require_instance("create_hook()").create_hook(token, metadata or {})


# --- the client side: what a token names ----------------------------------------------


@dataclass(frozen=True)
class HookInfo:
    """A hook as a client sees it (`wdk.api.get_hook(token)`).

    `open` is True while the hook takes payloads: its run goes on and the
    workflow has not disposed it. A closed hook's token may be taken again.
    """

    token: str
    run_id: str
    correlation_id: str
    created_at: float
    open: bool
    metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def is_webhook(self) -> bool:
        return isinstance(self.metadata.get("webhook"), dict)


async def lookup_hook(world: World, token: str) -> HookInfo:
    """The hook holding `token` now, else the last one that held it; HookNotFound if none."""
    found = await world.get_hook(token, include_disposed=True)
    if found is None:
        raise HookNotFound(token)
    is_open = found.status == "active"
    if is_open:
        run = await world.get_run(found.run_id)
        is_open = run is not None and run.status not in TERMINAL_STATUSES
    metadata = found.metadata if isinstance(found.metadata, dict) else {}
    return HookInfo(token, found.run_id, found.correlation_id, found.created_at, is_open, dict(metadata))
