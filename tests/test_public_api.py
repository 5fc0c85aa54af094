"""The public API changes only on purpose: these lists are the contract."""

from __future__ import annotations

import wdk
import wdk.api


def test_workflow_side_names() -> None:
    assert wdk.__all__ == sorted(wdk.__all__)
    for name in wdk.__all__:
        assert hasattr(wdk, name), name
    # The documented workflow-side API (docs/guide.md): each must stay importable from wdk.
    required = {
        "sleep", "create_hook", "define_hook", "create_webhook", "get_writable",
        "get_step_metadata", "get_workflow_metadata", "FatalError", "RetryableError",
        "StepError", "WorkflowFailed", "WorkflowCancelled", "WorkflowCalledDirectly",
        "WorkflowSandboxError", "NonDeterminismError", "SerializationError",
        "HookNotFound", "CompileError", "install_import_hook", "RunNotFound", "patched", "deprecate_patch",
        # Flow control (DESIGN section 6).
        "Concurrency", "RateLimit", "schedule",
    }
    assert required <= set(wdk.__all__)


def test_client_side_names() -> None:
    assert wdk.api.__all__ == sorted(wdk.api.__all__)
    required = {"start", "get_run", "Run", "resume_hook", "resume_webhook", "configure", "run_sync",
                "get_hook", "HookInfo"}
    assert required <= set(wdk.api.__all__)
    for name in wdk.api.__all__:
        assert hasattr(wdk.api, name), name


def test_run_not_found_is_importable_and_documented() -> None:
    """`get_run(bad_id).status()` raises it: users must be able to catch it by name."""
    from pathlib import Path

    from wdk import RunNotFound
    from wdk.errors import WdkError

    assert issubclass(RunNotFound, WdkError) and issubclass(RunNotFound, LookupError)
    assert RunNotFound("wrun_x").run_id == "wrun_x"
    docs = Path(__file__).resolve().parent.parent / "docs"
    assert any("RunNotFound" in p.read_text() for p in docs.glob("*.md"))
