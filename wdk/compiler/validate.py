"""Pass 2b: what a workflow body may not do.

Names are resolved through imports and aliases (`import subprocess as sp`,
`from time import sleep as zz`) by libcst's scope analysis, so the check
sees `sp.run` as `subprocess.run`. Code inside a step nested in the
workflow is step code and is not checked.
"""

from __future__ import annotations

from collections.abc import Callable, Collection

import libcst as cst
from libcst.metadata import QualifiedName, QualifiedNameSource

from wdk.compiler.collect import Target
from wdk.compiler.context import SourceContext
from wdk.errors import Diagnostic

_HINT = 'move it into a "use step" function'

# Builtins a workflow may not use, with the reason given in the message.
_BUILTINS = {
    "builtins.open": "it does I/O",
    "builtins.input": "it does I/O",
    "builtins.exec": "it runs code the compiler cannot check",
    "builtins.eval": "it runs code the compiler cannot check",
}
# Whole modules a workflow may not touch.
_MODULES = {
    "os": "it does I/O",
    "subprocess": "it starts processes",
    "socket": "it does network I/O",
    "threading": "it starts threads",
}
_SLEEP = "time.sleep"

QualifiedNames = Callable[[cst.CSTNode], Collection[QualifiedName]]


def forbidden_reason(name: QualifiedName) -> tuple[str, str] | None:
    """(reason, hint) when a resolved name may not appear in a workflow."""
    if name.source == QualifiedNameSource.BUILTIN and name.name in _BUILTINS:
        return _BUILTINS[name.name], _HINT
    if name.source != QualifiedNameSource.IMPORT:
        return None
    if name.name == _SLEEP or name.name.startswith(_SLEEP + "."):
        return "it blocks the worker", "use 'await wdk.sleep(...)', which is durable"
    root = name.name.split(".", 1)[0]
    if root in _MODULES:
        return _MODULES[root], _HINT
    return None


def check_workflow(
    workflow: Target,
    steps: Collection[Target],
    qualified_names: QualifiedNames,
    ctx: SourceContext,
) -> list[Diagnostic]:
    """Every forbidden name and every un-awaited bare step call in `workflow`."""
    checker = _WorkflowChecker(workflow, steps, qualified_names, ctx)
    workflow.node.body.visit(checker)
    return checker.diagnostics


class _WorkflowChecker(cst.CSTVisitor):
    def __init__(
        self,
        workflow: Target,
        steps: Collection[Target],
        qualified_names: QualifiedNames,
        ctx: SourceContext,
    ) -> None:
        super().__init__()
        self.workflow = workflow
        self.ctx = ctx
        self.diagnostics: list[Diagnostic] = []
        self._names = qualified_names
        self._step_nodes = {s.node for s in steps}
        self._step_names = {s.qualname: s for s in steps}

    def visit_FunctionDef(self, node: cst.FunctionDef) -> bool:
        return node not in self._step_nodes

    def visit_Import(self, node: cst.Import) -> bool:
        return False  # the import itself is harmless; its uses are checked

    def visit_ImportFrom(self, node: cst.ImportFrom) -> bool:
        return False

    def visit_Expr(self, node: cst.Expr) -> None:
        call = node.value
        if not isinstance(call, cst.Call):
            return
        for name in self._names(call.func):
            step = self._step_names.get(name.name)
            if name.source == QualifiedNameSource.LOCAL and step is not None:
                shown = cst.Module([]).code_for_node(call.func)
                self.diagnostics.append(
                    self.ctx.diagnostic(
                        call,
                        f"step '{shown}' is called without 'await' in workflow '{self.workflow.qualname}'",
                        f"write 'await {shown}(...)' (or pass the call to asyncio.gather / create_task)",
                    )
                )
                return

    def visit_Attribute(self, node: cst.Attribute) -> bool:
        if not _is_dotted(node):
            return True
        self._check_name(node)
        return False  # `os.path.join` is one name, not three

    def visit_Name(self, node: cst.Name) -> None:
        self._check_name(node)

    def _check_name(self, node: cst.Name | cst.Attribute) -> None:
        for name in self._names(node):
            found = forbidden_reason(name)
            if found is None:
                continue
            reason, hint = found
            written = cst.Module([]).code_for_node(node)
            shown = (
                f"'{written}'"
                if name.name in (written, "builtins." + written)
                else f"'{written}' ({name.name})"
            )
            self.diagnostics.append(
                self.ctx.diagnostic(node, f"{shown} cannot be used in a workflow: {reason}", hint)
            )
            return


def _is_dotted(node: cst.BaseExpression) -> bool:
    while isinstance(node, cst.Attribute):
        node = node.value
    return isinstance(node, cst.Name)
