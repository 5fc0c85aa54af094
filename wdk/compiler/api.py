"""The compiler's entry points: pre-check, analyze, compile.

    from wdk.compiler import analyze_source, compile_source
    info = analyze_source(source, "shop.orders")          # workflows, steps, ids
    code = compile_source(source, "shop.orders", "client")

The build and the runtime call `analyze_source` and all three modes on one
source, so the parse and the per-mode outputs are cached by content.
"""

from __future__ import annotations

import re
from functools import lru_cache

import libcst as cst

from wdk.compiler.analysis import Analysis, analyze, source_hash, too_deep
from wdk.compiler.directives import has_directive
from wdk.compiler.model import Mode, ModuleInfo
from wdk.compiler.naming import module_name_for_path
from wdk.compiler.stubs import registration
from wdk.compiler.transform_client import WorkflowStubber
from wdk.compiler.transform_workflow import StepProxier
from wdk.errors import CompileError, Diagnostic

__all__ = [
    "analyze_source",
    "compile_source",
    "compiled_mode",
    "has_directive",
    "module_name_for_path",
]

_MODES = ("client", "step", "workflow")
_REGISTRATION = re.compile(
    re.escape(registration("MODE", {}, {}).split('"MODE"')[0]) + r'"(client|step|workflow)"'
)


def analyze_source(source: str, module: str, *, path: str = "<string>") -> ModuleInfo:
    """The workflows and steps of a module (ids, lines, parameters).

    Raises `CompileError` listing every error in the file.

        analyze_source('async def f():\\n    "use workflow"\\n', "shop").workflows[0].id
        # 'workflow//shop//f'
    """
    if not has_directive(source):
        return ModuleInfo(module, path, source_hash(source))
    return _analysis(source, module, path).info


def compile_source(source: str, module: str, mode: Mode, *, path: str = "<string>") -> str:
    """`source` compiled for `mode` ("client", "step" or "workflow").

    A module without workflows or steps is returned unchanged (the same
    object). Line numbers of user code never move. Raises `CompileError`.
    """
    if mode not in _MODES:
        raise ValueError(f"mode must be one of {', '.join(_MODES)}, not {mode!r}")
    if not has_directive(source):
        return source
    done = compiled_mode(source)
    if done is not None:
        return _recompiled(source, done, mode, path)
    analysis = _analysis(source, module, path)
    if not analysis.targets:
        return source
    try:
        return _compiled(analysis, mode)
    except RecursionError:
        raise too_deep(path, source.partition("\n")[0]) from None


def compiled_mode(source: str) -> Mode | None:
    """The mode `source` is already compiled in (it ends with the registration
    line), else None. Output of `wdk build` imported through the import hook
    must not be compiled a second time."""
    tail = source.rstrip()
    start = tail.rfind("\n") + 1
    match = _REGISTRATION.match(tail, start)
    return match.group(1) if match is not None else None  # type: ignore[return-value]


def _recompiled(source: str, done: Mode, mode: Mode, path: str) -> str:
    # client and step output differ only in their registration: either serves
    # as the other. Workflow output is a different program, and so is its source.
    if done == mode or (done != "workflow" and mode != "workflow"):
        return source
    lines = source.rstrip().splitlines()
    message = f"this file is wdk's {done}-mode output; it cannot be compiled in {mode} mode"
    hint = "compile the original source (the workflow tree of `wdk build` has the workflow mode)"
    raise CompileError([Diagnostic(path, len(lines), 1, message, hint, lines[-1])])


@lru_cache(maxsize=256)
def _analysis(source: str, module: str, path: str) -> Analysis:
    return analyze(source, module, path)


@lru_cache(maxsize=512)
def _compiled(analysis: Analysis, mode: Mode) -> str:
    code = _transformed(analysis, proxy_steps=mode == "workflow")
    workflows = {t.qualname: t.id for t in analysis.targets if t.kind == "workflow"}
    steps = {t.qualname: t.id for t in analysis.targets if t.kind == "step"}
    newline = analysis.tree.default_newline
    separator = "" if code.endswith(("\n", "\r")) else newline
    return code + separator + registration(mode, workflows, steps) + newline


@lru_cache(maxsize=256)
def _transformed(analysis: Analysis, *, proxy_steps: bool) -> str:
    # client and step mode differ only in the registration line: one transform.
    transformer: cst.CSTTransformer
    if proxy_steps:
        transformer = StepProxier(analysis.tree, analysis.targets)
    else:
        transformer = WorkflowStubber(analysis.targets)
    return analysis.tree.visit(transformer).code


# Re-exported here so `wdk.compiler.api` is the single front door.
has_directive = has_directive
module_name_for_path = module_name_for_path
