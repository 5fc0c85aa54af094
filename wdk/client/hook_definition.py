"""Typed hooks: one object for both sides of a hook whose payloads have one shape.

    Approval = define_hook(ApprovalPayload)
    hook = Approval.create(token=f"approve:{doc_id}")   # in the workflow
    await Approval.resume(token, {"ok": True})          # in a client: validated first

It sits in the client layer because `resume` is a client call; `create` calls
down into the runtime like any workflow-side helper.
"""

from __future__ import annotations

from typing import Any, Generic, TypeVar

import msgspec

from wdk.client.choose import current_client
from wdk.runtime.hooks import Hook, create_hook

__all__ = ["HookDefinition", "define_hook"]

T = TypeVar("T")


class HookDefinition(Generic[T]):
    """A hook whose payloads must have one shape (any type msgspec can convert to)."""

    def __init__(self, payload_type: type[T]) -> None:
        self.payload_type = payload_type

    def create(self, token: str | None = None, *, metadata: dict[str, Any] | None = None) -> Hook[T]:
        meta = dict(metadata or {})
        # Where the runtime finds the type to validate payloads with (wdk.runtime.runs).
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
        """Validate `value`, then send it to the hook `token` (as `wdk.api.resume_hook`)."""
        await current_client().resume_hook(token, self.validate(value))


def define_hook(payload_type: type[T]) -> HookDefinition[T]:
    """A typed hook: `.create()` in the workflow, `.resume(token, value)` outside."""
    return HookDefinition(payload_type)
