"""Parse once, find directives, validate, and describe the module.

`analyze` is the shared front half of the compiler: the API caches its
result, and each mode's transform works on the same parsed tree.
"""

from __future__ import annotations

import ast
import hashlib
import re
import warnings
from collections.abc import Callable, Collection
from dataclasses import dataclass

import libcst as cst
from libcst.metadata import MetadataWrapper, QualifiedName, ScopeProvider

from wdk.compiler.collect import Collector, Target
from wdk.compiler.context import SourceContext
from wdk.compiler.model import FunctionInfo, ModuleInfo, ParamInfo
from wdk.compiler.scope import captures, nonlocal_errors, reduced_module
from wdk.compiler.step_options import check_step_options, decorator_call, options_of
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
            diagnostics += _check_workflows(tree, targets, ctx)
        decorated = [f for f in collector.functions if f.decorators and decorator_call(f) is not None]
        if decorated:
            diagnostics += check_step_options(decorated, {t.node: t for t in targets}, ctx)
        if diagnostics:
            diagnostics.sort(key=lambda d: (d.line, d.column))
            raise CompileError(diagnostics)
        where = (
            _def_positions(source, lines, collector.functions) if targets else None
        ) or ctx.where
        functions = tuple(_function_info(t, tree, module, where) for t in targets)
    except RecursionError:
        raise too_deep(path, lines[0]) from None
    return Analysis(tree, tuple(targets), ModuleInfo(module, path, source_hash(source), functions))


def too_deep(path: str, first_line: str) -> CompileError:
    """libcst recurses once per nesting level (e.g. a very long `a + b + ...`)."""
    message = "the file is nested too deeply for the wdk compiler"
    hint = "split the deepest expression into smaller ones"
    return CompileError([Diagnostic(path, 1, 1, message, hint, first_line)])


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
    tree: cst.Module, targets: list[Target], ctx: SourceContext
) -> list[Diagnostic]:
    """Captures of nested steps, then the workflow-body checks."""
    keep = {t.top for t in targets if t.kind == "workflow"}
    scopes = MetadataWrapper(reduced_module(tree, keep), unsafe_skip_copy=True).resolve(
        ScopeProvider
    )
    every = {s for s in scopes.values() if s is not None}

    def qualified(node: cst.CSTNode) -> Collection[QualifiedName]:
        scope = scopes.get(node)
        return scope.get_qualified_names_for(node) if scope is not None else ()

    diagnostics: list[Diagnostic] = []
    steps = [t for t in targets if t.kind == "step"]
    for step in steps:
        if step.parent is not None:
            step.captures = captures(step, step.parent, scopes, every)
            diagnostics += nonlocal_errors(step, step.parent, ctx)
    for workflow in (t for t in targets if t.kind == "workflow"):
        diagnostics += check_workflow(workflow, steps, qualified, ctx)
    return diagnostics


def _def_positions(
    source: str, lines: tuple[str, ...], functions: list[cst.FunctionDef]
) -> Callable[[cst.CSTNode], tuple[int, int]] | None:
    """(line, column) of each def, from Python's own parser: a small
    fraction of the cost of libcst's PositionProvider. Both trees list defs in
    source order; None (use libcst) if they disagree."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            tree = ast.parse(source)
        except (SyntaxError, ValueError, RecursionError):
            return None
    found: list[tuple[int, int]] = []
    pending: list[ast.AST] = [tree]
    while pending:
        current = pending.pop()
        if isinstance(current, (ast.FunctionDef, ast.AsyncFunctionDef)):
            found.append((current.lineno, current.col_offset))
        for field in reversed(_BODIES):  # statement lists only: defs never sit in expressions
            children = getattr(current, field, None)
            if isinstance(children, list):
                pending.extend(reversed(children))
    if len(found) != len(functions):
        return None
    table: dict[cst.CSTNode, tuple[int, int]] = {}
    for node, (line, offset) in zip(functions, found, strict=True):
        # ast columns count UTF-8 bytes; ours count characters.
        text = lines[line - 1].encode("utf-8", "surrogatepass") if line <= len(lines) else b""
        table[node] = (line, len(text[:offset].decode("utf-8", "replace")) + 1)
    return table.__getitem__


_BODIES = ("body", "handlers", "orelse", "finalbody", "cases")


def _function_info(
    target: Target,
    tree: cst.Module,
    module: str,
    where: Callable[[cst.CSTNode], tuple[int, int]],
) -> FunctionInfo:
    node = target.node
    line, column = where(node)
    return FunctionInfo(
        kind=target.kind,
        id=target.id,
        module=module,
        qualname=target.qualname,
        line=line,
        column=column,
        is_async=node.asynchronous is not None,
        params=params_of(node, tree),
        returns=tree.code_for_node(node.returns.annotation) if node.returns else None,
        source_hash=source_hash(tree.code_for_node(node.with_changes(leading_lines=()))),
        method=target.method,
        captures=target.captures,
        options=options_of(node) if node.decorators else (),
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
