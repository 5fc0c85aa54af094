"""client and step mode: workflow bodies raise WorkflowCalledDirectly.

Application code (client mode) and the step handler (step mode) must never
run a workflow body in-process; they start runs instead. Steps stay as they
are, so they remain callable directly (unit tests) and in the step handler.
"""

from __future__ import annotations

from collections.abc import Iterable

import libcst as cst

from wdk.compiler.collect import Target
from wdk.compiler.context import CONTAINERS
from wdk.compiler.stubs import place_stub, workflow_stub


class WorkflowStubber(cst.CSTTransformer):
    """Puts `__wdk__.workflow_called_directly(id)` on each workflow's first line."""

    def __init__(self, targets: Iterable[Target]) -> None:
        super().__init__()
        self._workflows = {t.node: t for t in targets if t.kind == "workflow"}

    def on_visit(self, node: cst.CSTNode) -> bool:
        return isinstance(node, CONTAINERS)  # only these can hold a def

    def leave_FunctionDef(
        self, original_node: cst.FunctionDef, updated_node: cst.FunctionDef
    ) -> cst.FunctionDef:
        target = self._workflows.get(original_node)
        if target is None:
            return updated_node
        return place_stub(updated_node, workflow_stub(target.id))
