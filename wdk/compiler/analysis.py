"""Parse once, find directives, validate, and describe the module.

`analyze` is the shared front half of the compiler: the API caches its
result, and each mode's transform works on the same parsed tree.
"""

from __future__ import annotations

import ast
import hashlib
import re
import warnings
from collections.abc import Collection
from dataclasses import dataclass

import libcst as cst
from libcst.metadata import (
    MetadataWrapper,
    QualifiedName,
    QualifiedNameProvider,
    ScopeProvider,
)

from wdk.compiler.collect import Collector, Target
from wdk.compiler.context import SourceContext
from wdk.compiler.model import FunctionInfo, ModuleInfo, ParamInfo
from wdk.compiler.scope import captures, nonlocal_errors
from wdk.compiler.validate import check_workflow
from wdk.errors import CompileError, Diagnostic

_LINES = re.compile(r"\r\n|\r|\n")


@dataclass(frozen=True, eq=False)  # identity: it keys the per-mode cache
class Analysis:
    """A module's parsed tree and its workflows and steps (no errors)."""

    tree: cst.Module
    targets: tuple[Target, ...]
    info: ModuleInfo


def source_hash(text: str) -> str:
    """sha256 hex digest of source text."""
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def analyze(source: str, module: str, path: str) -> Analysis:
    """Parse and check `source`; raise CompileError with every problem found."""
    lines = tuple(_LINES.split(source))
    tree = _parse(source, path, lines)
    wrapper = MetadataWrapper(tree, unsafe_skip_copy=True)
    ctx = SourceContext(path, module, lines, wrapper)
    try:
        collector = Collector(ctx, scan_lambdas="lambda" in source)
        tree.visit(collector)
        diagnostics = list(collector.diagnostics)
        targets = collector.targets
        if any(t.kind == "workflow" for t in targets):
            diagnostics += _check_workflows(wrapper, targets, ctx)
    except RecursionError:
        # libcst recurses once per nesting level (e.g. a very long `a + b + ...`).
        message = "the file is nested too deeply for the wdk compiler"
        hint = "split the deepest expression into smaller ones"
        raise CompileError([Diagnostic(path, 1, 1, message, hint, lines[0])]) from None
    if diagnostics:
        diagnostics.sort(key=lambda d: (d.line, d.column))
        raise CompileError(diagnostics)
    functions = tuple(_function_info(t, tree, ctx) for t in targets)
    return Analysis(tree, tuple(targets), ModuleInfo(module, path, source_hash(source), functions))


def _parse(source: str, path: str, lines: tuple[str, ...]) -> cst.Module:
    try:
        return cst.parse_module(source)
    except cst.ParserSyntaxError as error:
        line, column, message = error.raw_line, error.raw_column + 1, error.message
    # Python's own parser gives the message users know, at its location.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # e.g. invalid escapes warn while compiling
        try:
            compile(source, path, "exec", flags=ast.PyCF_ONLY_AST, dont_inherit=True)
        except SyntaxError as error:
            line, column, message = error.lineno or line, error.offset or column, error.msg
        except ValueError as error:  # null bytes
            message = str(error)
    text = lines[line - 1] if 0 < line <= len(lines) else ""
    raise CompileError([Diagnostic(path, line, column, f"syntax error: {message}", "", text)])


def _check_workflows(
    wrapper: MetadataWrapper, targets: list[Target], ctx: SourceContext
) -> list[Diagnostic]:
    """Captures of nested steps, then the workflow-body checks."""
    scopes = wrapper.resolve(ScopeProvider)
    every = {s for s in scopes.values() if s is not None}
    names = wrapper.resolve(QualifiedNameProvider)

    def qualified(node: cst.CSTNode) -> Collection[QualifiedName]:
        value = names.get(node)
        return value() if callable(value) else (value or ())

    diagnostics: list[Diagnostic] = []
    steps = [t for t in targets if t.kind == "step"]
    for step in steps:
        if step.parent is not None:
            step.captures = captures(step, step.parent, scopes, every)
            diagnostics += nonlocal_errors(step, step.parent, ctx)
    for workflow in (t for t in targets if t.kind == "workflow"):
        diagnostics += check_workflow(workflow, steps, qualified, ctx)
    return diagnostics


def _function_info(target: Target, tree: cst.Module, ctx: SourceContext) -> FunctionInfo:
    node = target.node
    line, column = ctx.where(node)
    return FunctionInfo(
        kind=target.kind,
        id=target.id,
        module=ctx.module,
        qualname=target.qualname,
        line=line,
        column=column,
        is_async=node.asynchronous is not None,
        params=params_of(node, tree),
        returns=tree.code_for_node(node.returns.annotation) if node.returns else None,
        source_hash=source_hash(tree.code_for_node(node.with_changes(leading_lines=()))),
        method=target.method,
        captures=target.captures,
    )


def params_of(node: cst.FunctionDef, tree: cst.Module) -> tuple[ParamInfo, ...]:
    """The signature of `node`, in order, with annotation and default source text."""
    p = node.params
    groups: list[tuple[str, list[cst.Param]]] = [
        ("positional_only", list(p.posonly_params)),
        ("positional_or_keyword", list(p.params)),
        ("var_positional", [p.star_arg] if isinstance(p.star_arg, cst.Param) else []),
        ("keyword_only", list(p.kwonly_params)),
        ("var_keyword", [p.star_kwarg] if p.star_kwarg is not None else []),
    ]
    return tuple(
        ParamInfo(
            name=param.name.value,
            kind=kind,
            annotation=tree.code_for_node(param.annotation.annotation)
            if param.annotation
            else None,
            default=tree.code_for_node(param.default) if param.default else None,
        )
        for kind, group in groups
        for param in group
    )
