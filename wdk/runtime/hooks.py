"""Hooks: a workflow waits for data sent from outside (`resume_hook`).

    hook = create_hook()                  # token: unguessable, stable on replay
    await notify_reviewer(hook.token)     # a step sends the token somewhere
    decision = await hook                 # one payload
    async for event in hook: ...          # or many

    Approval = define_hook(ApprovalPayload)        # typed: payloads are validated
    hook = Approval.create(token=f"approve:{doc_id}")
    await Approval.resume(token, {"ok": True})     # client side
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator, Generator
from typing import Any, Generic, TypeVar

import msgspec

from wdk.errors import HookConflict, WorkflowSandboxError

T = TypeVar("T")


class Hook(Generic[T]):
    """The workflow side of a hook. Awaiting it gives the next payload."""

    def __init__(self, token: str, correlation_id: str) -> None:
        self.token = token
        self.correlation_id = correlation_id
        self._payloads: list[Any] = []
        self._waiters: deque[asyncio.Future[Any]] = deque()
        self._cursor = 0
        self._conflict = False

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

    # --- workflow code --------------------------------------------------------------

    def _next(self) -> asyncio.Future[Any]:
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[Any] = loop.create_future()
        if self._conflict:
            fut.set_exception(HookConflict(self.token))
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
        result: T = await self._next()
        return result


def _instance(what: str) -> Any:
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        loop = None
    inst = getattr(loop, "instance", None)
    if inst is None:
        raise WorkflowSandboxError(f"{what} can only be called inside a workflow run")
    return inst


def create_hook(token: str | None = None, *, metadata: dict[str, Any] | None = None) -> Hook[Any]:
    """Create a hook in the running workflow. Without `token`, one with 128
    random bits is made (deterministic on replay, unguessable outside)."""
    inst = _instance("create_hook()")
    hook: Hook[Any] = inst.create_hook(token, metadata or {})
    return hook


class HookDefinition(Generic[T]):
    """A hook whose payloads must have one shape (any type msgspec can convert to)."""

    def __init__(self, payload_type: type[T]) -> None:
        self.payload_type = payload_type

    def create(self, token: str | None = None, *, metadata: dict[str, Any] | None = None) -> Hook[T]:
        meta = dict(metadata or {})
        meta["payload_type"] = f"{self.payload_type.__module__}:{self.payload_type.__qualname__}"
        hook: Hook[T] = create_hook(token, metadata=meta)
        return hook

    def validate(self, value: Any) -> T:
        """Convert `value` to the payload type; raises ValueError with msgspec's message."""
        try:
            return msgspec.convert(value, self.payload_type, strict=False)
        except msgspec.ValidationError as exc:
            raise ValueError(f"invalid payload for {self.payload_type.__qualname__}: {exc}") from None

    async def resume(self, token: str, value: Any) -> None:
        from wdk.api import resume_hook

        await resume_hook(token, self.validate(value))


def define_hook(payload_type: type[T]) -> HookDefinition[T]:
    """A typed hook: `.create()` in the workflow, `.resume(token, value)` outside."""
    return HookDefinition(payload_type)
