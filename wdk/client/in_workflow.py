"""The client inside workflow code: `start()` starts a child run and
`Run.result()` waits for one, each a durable step of the running workflow
(`wdk.runtime.children`). Everything else reads or changes live state, which
a workflow must not: it raises WorkflowSandboxError naming the call.
"""

from __future__ import annotations

from typing import Any, NoReturn

from wdk.client.base import StartOptions, WorkflowRef
from wdk.errors import WorkflowSandboxError
from wdk.runtime.arguments import check_arguments
from wdk.runtime.children import AWAIT_CHILD, START_CHILD
from wdk.runtime.compiled import step_call
from wdk.runtime.hooks import HookInfo
from wdk.runtime.loader import default_loader
from wdk.runtime.stream_reader import RunStream
from wdk.runtime.webhooks import WebhookRequest, WebhookResponse
from wdk.worlds.base import Event, RunStatus

__all__ = ["WorkflowClient"]


def _refused(what: str) -> NoReturn:
    raise WorkflowSandboxError(
        f"{what} reads live state and is not allowed in a workflow: call it in a \"use step\" function"
    )


class WorkflowClient:
    """Child runs of the running workflow."""

    def __repr__(self) -> str:
        return "WorkflowClient()"

    async def start(
        self, workflow: WorkflowRef, args: tuple[Any, ...], kwargs: dict[str, Any], options: StartOptions
    ) -> str:
        if not isinstance(workflow, str):
            # At the workflow's own line, and before the child's start is recorded.
            check_arguments(workflow, args, kwargs)
        workflow_id = workflow if isinstance(workflow, str) else getattr(workflow, "__wdk_workflow_id__", None)
        if workflow_id is None:
            workflow_id = default_loader().workflow_id_of(workflow)
        if options.priority or options.debounce is not None:
            raise TypeError("a child run takes no priority or debounce: start it from a step to use them")
        run_id: str = await step_call(START_CHILD, (workflow_id, list(args), kwargs), {})
        return run_id

    async def result(self, run_id: str, timeout: float | None) -> Any:
        return await step_call(AWAIT_CHILD, (run_id,), {})

    async def status(self, run_id: str) -> RunStatus:
        _refused("Run.status()")

    async def events(self, run_id: str) -> list[Event]:
        _refused("Run.events()")

    async def cancel(self, run_id: str) -> None:
        _refused("Run.cancel()")

    async def rerun(self, run_id: str, from_step: int | None) -> str:
        _refused("Run.rerun()")

    async def retry(self, run_id: str) -> str:
        _refused("Run.retry()")

    def stream(self, run_id: str, namespace: str | None, start: int) -> RunStream:
        _refused("Run.stream()")

    async def stream_tail_index(self, run_id: str, namespace: str | None) -> int:
        _refused("Run.stream_tail_index()")

    async def resume_hook(self, token: str, payload: Any) -> str:
        _refused("resume_hook()")

    async def get_hook(self, token: str) -> HookInfo:
        _refused("get_hook()")

    async def resume_webhook(self, token: str, request: WebhookRequest) -> WebhookResponse:
        _refused("resume_webhook()")
