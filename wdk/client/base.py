"""The `Client` protocol: every call `wdk.api` makes, and where it goes.

Three implementations, one chosen per event loop from the configuration
(`wdk.client.current_client`), never re-checked call by call:

* `LocalClient` (wdk.client.local): the in-process runtime (the default);
* `HttpClient` (wdk.client.http): a `wdk serve` elsewhere (`server_url`);
* `WorkflowClient` (wdk.client.in_workflow): inside workflow code, where
  `start()` and `Run.result()` are durable steps of the running workflow.

A client calls down (into the runtime, or over HTTP); nothing below calls it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from wdk.durations import Duration

if TYPE_CHECKING:
    from wdk.runtime.hooks import HookInfo
    from wdk.runtime.stream_reader import RunStream
    from wdk.runtime.webhooks import WebhookRequest, WebhookResponse
    from wdk.worlds.base import Event, RunStatus

__all__ = ["Client", "StartOptions", "WorkflowRef"]

# A workflow function, or its id ("workflow//shop.orders//checkout").
WorkflowRef = Callable[..., Any] | str


@dataclass(frozen=True)
class StartOptions:
    """How to start a run, apart from the workflow's own arguments
    (`wdk.api.start_with(...)`): kept out of the arguments so that a
    workflow's parameter can never be taken for an option."""

    # A second start with the same key returns the first run.
    idempotency_key: str | None = None
    # Higher is taken first when work queues (and waits first for a slot).
    priority: int = 0
    # (window, key): starts with one key within the window make one run, with the last arguments.
    debounce: tuple[Duration, str] | None = None


class Client(Protocol):
    """Where `wdk.api` sends its calls. Run ids travel as strings."""

    async def start(
        self, workflow: WorkflowRef, args: tuple[Any, ...], kwargs: dict[str, Any], options: StartOptions
    ) -> str:
        """Start a run (arguments checked against the workflow's signature
        first: TypeError, nothing written); its id."""
        ...

    async def status(self, run_id: str) -> RunStatus:
        """The run's status; RunNotFound for an unknown id."""
        ...

    async def result(self, run_id: str, timeout: float | None) -> Any:
        """Wait for the run to end: its result, or WorkflowFailed / WorkflowCancelled."""
        ...

    async def events(self, run_id: str) -> list[Event]: ...

    async def cancel(self, run_id: str) -> None: ...

    async def rerun(self, run_id: str, from_step: int | None) -> str:
        """Start a new run with the run's input, reusing its step results before `from_step`; its id."""
        ...

    async def retry(self, run_id: str) -> str:
        """Continue a run failed by a step (same id); the step's id."""
        ...

    def stream(self, run_id: str, namespace: str | None, start: int) -> RunStream: ...

    async def stream_tail_index(self, run_id: str, namespace: str | None) -> int: ...

    async def resume_hook(self, token: str, payload: Any) -> str:
        """Deliver a payload to a live hook; the id of its run."""
        ...

    async def get_hook(self, token: str) -> HookInfo: ...

    async def resume_webhook(self, token: str, request: WebhookRequest) -> WebhookResponse: ...
