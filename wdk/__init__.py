"""wdk: durable workflows for Python. Workflow-side API.

    from wdk import sleep, FatalError

    async def checkout(order_id: str) -> dict:
        "use workflow"
        order = await load_order(order_id)
        await sleep("1h")
        return await charge(order)
"""

from wdk.client.hook_definition import HookDefinition, define_hook
from wdk.compiler.import_hook import install_import_hook
from wdk.errors import (
    CompileError,
    FatalError,
    HookNotFound,
    NonDeterminismError,
    RetryableError,
    RunNotFound,
    SerializationError,
    StepError,
    StreamClosedError,
    WorkflowCalledDirectly,
    WorkflowCancelled,
    WorkflowFailed,
    WorkflowSandboxError,
)
from wdk.runtime.flow_control import Concurrency, RateLimit
from wdk.runtime.hooks import Hook, create_hook
from wdk.runtime.metadata import (
    StepMetadata,
    WorkflowMetadata,
    get_step_metadata,
    get_workflow_metadata,
)
from wdk.runtime.patches import deprecate_patch, patched
from wdk.runtime.schedules import Schedule, schedule
from wdk.runtime.sleep import sleep
from wdk.runtime.step_policy import step_options
from wdk.runtime.stream_reader import StreamRollback
from wdk.runtime.streams import Writable, get_writable
from wdk.runtime.webhooks import Webhook, WebhookRequest, WebhookResponse, create_webhook

__version__ = "0.1.0"

__all__ = [
    "CompileError",
    "Concurrency",
    "FatalError",
    "Hook",
    "HookDefinition",
    "HookNotFound",
    "NonDeterminismError",
    "RateLimit",
    "RetryableError",
    "RunNotFound",
    "Schedule",
    "SerializationError",
    "StepError",
    "StepMetadata",
    "StreamClosedError",
    "StreamRollback",
    "Webhook",
    "WebhookRequest",
    "WebhookResponse",
    "WorkflowCalledDirectly",
    "WorkflowCancelled",
    "WorkflowFailed",
    "WorkflowMetadata",
    "WorkflowSandboxError",
    "Writable",
    "__version__",
    "create_hook",
    "create_webhook",
    "define_hook",
    "deprecate_patch",
    "get_step_metadata",
    "get_workflow_metadata",
    "get_writable",
    "install_import_hook",
    "patched",
    "schedule",
    "sleep",
    "step_options",
]
