"""`@step_options(...)`: the compiler checks it and reads the policy it sets.

    @step_options(max_retries=5, timeout="30s")
    async def charge(order_id: str) -> str:
        "use step"

Placement (only on a "use step" function, called, keywords only, known
keywords) and literal values (`max_retries=-1`, `timeout="30x"`) are compile
errors; a value computed at run time is checked when the module loads
(wdk.runtime.step_policy). The literal source of each keyword goes into the
step's `FunctionInfo.options` (and `wdk build`'s manifest).
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Mapping

import libcst as cst

from wdk.compiler.collect import Target
from wdk.compiler.context import SourceContext
from wdk.durations import parse_duration
from wdk.errors import Diagnostic

NAME = "step_options"
KEYWORDS = ("max_retries", "retry_delay", "timeout", "concurrency", "rate_limit")  # step_policy.step_options
_EXAMPLE = '@step_options(max_retries=5, timeout="30s")'


def decorator_call(node: cst.FunctionDef) -> cst.Decorator | None:
    """The `@step_options` (or `@wdk.step_options`) decorator of `node`, if any."""
    for decorator in node.decorators:
        expr = decorator.decorator
        if isinstance(expr, cst.Call):
            expr = expr.func
        if (isinstance(expr, cst.Name) and expr.value == NAME) or (
            isinstance(expr, cst.Attribute) and expr.attr.value == NAME
        ):
            return decorator
    return None


def options_of(node: cst.FunctionDef) -> tuple[tuple[str, str], ...]:
    """(keyword, source text) of each option the decorator sets, in order."""
    decorator = decorator_call(node)
    if decorator is None or not isinstance(decorator.decorator, cst.Call):
        return ()
    code = cst.Module([]).code_for_node
    return tuple(
        (arg.keyword.value, code(arg.value)) for arg in decorator.decorator.args if arg.keyword is not None
    )


def check_step_options(
    functions: Iterable[cst.FunctionDef], targets: Mapping[cst.FunctionDef, Target], ctx: SourceContext
) -> list[Diagnostic]:
    """Every misuse of `@step_options` among `functions`."""
    diagnostics: list[Diagnostic] = []
    for node in functions:
        decorator = decorator_call(node)
        if decorator is None:
            continue
        target = targets.get(node)
        name = node.name.value
        if target is None or target.kind != "step":
            what = f"workflow '{target.qualname}'" if target is not None else f"'{name}', which is not a step"
            diagnostics.append(ctx.diagnostic(
                decorator,
                f"@step_options sets a step's retries and timeout: {what}",
                'use it on a "use step" function' + (" (workflows are not retried)" if target else ""),
            ))
            continue
        call = decorator.decorator
        if not isinstance(call, cst.Call):
            diagnostics.append(ctx.diagnostic(decorator, "@step_options must be called", f"write {_EXAMPLE}"))
            continue
        for arg in call.args:
            problem = _problem(arg)
            if problem is not None:
                diagnostics.append(ctx.diagnostic(arg, f"@step_options of step '{target.qualname}': {problem}",
                                                  f"for example {_EXAMPLE}"))
    return diagnostics


def _problem(arg: cst.Arg) -> str | None:
    if arg.keyword is None:
        return "its options are keywords (max_retries=, retry_delay=, timeout=)"
    keyword = arg.keyword.value
    if keyword not in KEYWORDS:
        return f"unknown option {keyword!r} (options: {', '.join(KEYWORDS)})"
    value = _literal(arg.value)
    if value is _NOT_LITERAL:
        return None  # computed: checked when the module loads
    if keyword in ("concurrency", "rate_limit"):
        kind = "wdk.Concurrency(...)" if keyword == "concurrency" else "wdk.RateLimit(...)"
        return f"{keyword} must be {kind}, not {value!r}"
    if keyword == "max_retries":
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            return f"max_retries must be an int >= 0, not {value!r}"
        return None
    try:
        parse_duration(value)  # type: ignore[arg-type]  # any literal: parse_duration says what it takes
    except (TypeError, ValueError) as exc:
        return f"{keyword}: {exc}"
    return None


_NOT_LITERAL = object()


def _literal(node: cst.BaseExpression) -> object:
    """The value of a literal expression (a number, a string, -1, [..]), else _NOT_LITERAL."""
    try:
        return ast.literal_eval(cst.Module([]).code_for_node(node).strip())
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return _NOT_LITERAL
