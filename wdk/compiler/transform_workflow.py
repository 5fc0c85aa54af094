"""workflow mode: step bodies become proxies that ask the runtime for the result.

The workflow runs in the sandbox; a step call inside it must not run the
step's code there but record (or replay) a durable step. The proxy passes
the arguments as the signature binds them, so Python has already applied
defaults, and a nested step also passes the workflow locals it reads.
"""

from __future__ import annotations

from collections.abc import Iterable

import libcst as cst

from wdk.compiler.analysis import params_of
from wdk.compiler.collect import Target
from wdk.compiler.context import CONTAINERS
from wdk.compiler.stubs import place_stub, step_proxy


class StepProxier(cst.CSTTransformer):
    """Puts `return [await] __wdk__.step_call(...)` on each step's first line."""

    def __init__(self, tree: cst.Module, targets: Iterable[Target]) -> None:
        super().__init__()
        self._tree = tree
        self._steps = {t.node: t for t in targets if t.kind == "step"}

    def on_visit(self, node: cst.CSTNode) -> bool:
        return isinstance(node, CONTAINERS)  # only these can hold a def

    def leave_FunctionDef(
        self, original_node: cst.FunctionDef, updated_node: cst.FunctionDef
    ) -> cst.FunctionDef:
        target = self._steps.get(original_node)
        if target is None:
            return updated_node
        proxy = step_proxy(
            target.id,
            params_of(original_node, self._tree),
            is_async=original_node.asynchronous is not None,
            # `cls` is bound by the class; `self` travels as an argument.
            skip_first=target.method == "classmethod",
            captures=target.captures,
        )
        return place_stub(updated_node, proxy)
