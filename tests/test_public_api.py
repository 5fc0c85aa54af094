"""The public API changes only on purpose: these lists are the contract."""

from __future__ import annotations

import wdk
import wdk.api


def test_workflow_side_names() -> None:
    assert wdk.__all__ == sorted(wdk.__all__)
    for name in wdk.__all__:
        assert hasattr(wdk, name), name
    # DESIGN section 4 and 5: every one of these must stay importable from wdk.
    required = {
        "sleep", "create_hook", "define_hook", "create_webhook", "get_writable",
        "get_step_metadata", "get_workflow_metadata", "FatalError", "RetryableError",
        "StepError", "WorkflowFailed", "WorkflowCancelled", "WorkflowCalledDirectly",
        "WorkflowSandboxError", "NonDeterminismError", "SerializationError",
        "HookNotFound", "CompileError", "install_import_hook",
    }
    assert required <= set(wdk.__all__)


def test_client_side_names() -> None:
    assert wdk.api.__all__ == sorted(wdk.api.__all__)
    required = {"start", "get_run", "Run", "resume_hook", "resume_webhook", "configure", "run_sync",
                "get_hook", "HookInfo"}
    assert required <= set(wdk.api.__all__)
    for name in wdk.api.__all__:
        assert hasattr(wdk.api, name), name
