"""Pass 2a: what a step nested in a workflow reads from the workflow.

A nested step's captured names are the workflow locals it (or a lambda or
comprehension inside it) reads; their values travel with each step call.
This matches the step's `__code__.co_freevars`, so the runtime can rebuild
the closure. Assigning a captured name (`nonlocal`) is refused: the step
runs elsewhere and cannot change the workflow's variables.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping

import libcst as cst
from libcst.metadata import Assignment, Scope

from wdk.compiler.collect import Target
from wdk.compiler.context import SourceContext
from wdk.errors import Diagnostic


def reduced_module(tree: cst.Module, keep: Collection[cst.CSTNode]) -> cst.Module:
    """`tree` with every module-level def and class not in `keep` cut down to
    its name: the scopes of the kept statements (the workflows) come out the
    same, at a fraction of the cost of analysing the whole file."""
    body: list[cst.BaseStatement] = []
    for statement in tree.body:
        if statement in keep:
            body.append(statement)
        elif isinstance(statement, cst.FunctionDef):
            body.append(cst.FunctionDef(statement.name, cst.Parameters(), _PASS))
        elif isinstance(statement, cst.ClassDef):
            body.append(cst.ClassDef(statement.name, _PASS))
        else:
            body.append(statement)
    return tree.with_changes(body=body)


_PASS = cst.SimpleStatementSuite([cst.Pass()])


def function_scope(
    node: cst.FunctionDef, scopes: Mapping[cst.CSTNode, Scope | None]
) -> Scope | None:
    """The scope of a function's own body."""
    body = node.body
    first: cst.CSTNode = (
        body.body[0] if isinstance(body, (cst.IndentedBlock, cst.SimpleStatementSuite)) else body
    )
    return scopes.get(first)


def captures(
    step: Target,
    workflow: Target,
    scopes: Mapping[cst.CSTNode, Scope | None],
    every: Collection[Scope],
) -> tuple[str, ...]:
    """Sorted names of `workflow`'s locals that the nested `step` reads."""
    inner = function_scope(step.node, scopes)
    outer = function_scope(workflow.node, scopes)
    if inner is None or outer is None:
        return ()
    names: set[str] = set()
    for scope in every:
        if not _within(scope, inner):
            continue
        for access in scope.accesses:
            for referent in access.referents:
                if isinstance(referent, Assignment) and referent.scope is outer:
                    names.add(referent.name)
    return tuple(sorted(names))


def nonlocal_errors(step: Target, workflow: Target, ctx: SourceContext) -> list[Diagnostic]:
    """One error per `nonlocal` statement in a nested step's own body."""
    finder = _NonlocalFinder()
    step.node.body.visit(finder)
    return [
        ctx.diagnostic(
            found,
            f"step '{step.node.name.value}' assigns "
            + ", ".join(f"'{item.name.value}'" for item in found.names)
            + f" of workflow '{workflow.qualname}' (nonlocal)",
            "return the new value from the step instead: a step cannot change the workflow's variables",
        )
        for found in finder.found
    ]


def _within(scope: Scope, ancestor: Scope) -> bool:
    current: Scope | None = scope
    while current is not None:
        if current is ancestor:
            return True
        parent = current.parent
        current = None if parent is current else parent
    return False


class _NonlocalFinder(cst.CSTVisitor):
    def __init__(self) -> None:
        super().__init__()
        self.found: list[cst.Nonlocal] = []

    def visit_Nonlocal(self, node: cst.Nonlocal) -> None:
        self.found.append(node)

    def visit_FunctionDef(self, node: cst.FunctionDef) -> bool:
        return False  # a function inside the step assigns its own enclosing scope

    def visit_ClassDef(self, node: cst.ClassDef) -> bool:
        return False
