"""The one-line stubs the transforms put on a function's first body line.

Both stubs go on the line of the first body statement (after the docstring
when there is one), so every later line keeps its number:

    "use workflow"; __wdk__.workflow_called_directly("workflow//m//f")
    "use step"; return await __wdk__.step_call("step//m//g", (a, *rest), {"k": k}, {"x": x})

A function marked by the module docstring may start with a compound
statement (`for`, `async with`); nothing can share that line, so the stub
takes a blank or comment line above it instead (`has_stub_slot`).
"""

from __future__ import annotations

import json
from collections.abc import Sequence

import libcst as cst

from wdk.compiler.model import ParamInfo

# Generated code names only this module (see wdk/runtime/compiled.py).
RUNTIME = "__wdk__"


def workflow_stub(workflow_id: str) -> cst.BaseSmallStatement:
    """`__wdk__.workflow_called_directly("<id>")`, which raises WorkflowCalledDirectly.

    A call rather than a `raise` statement: Python drops the code after a
    `raise` from the compiled function, and the rest of the body must stay,
    because the steps nested in a workflow are run from its code objects."""
    return _small(f"{RUNTIME}.workflow_called_directly({_quote(workflow_id)})")


def step_proxy(
    step_id: str,
    params: tuple[ParamInfo, ...],
    *,
    is_async: bool,
    skip_first: bool,
    captures: tuple[str, ...] = (),
) -> cst.BaseSmallStatement:
    """`return [await] __wdk__.step_call(id, (pos...), {kw...}[, {captured...}])`,
    built from the signature so Python applies defaults before the call."""
    positional: list[str] = []
    keyword: list[str] = []
    for param in params[1:] if skip_first else params:
        if param.kind in ("positional_only", "positional_or_keyword"):
            positional.append(param.name)
        elif param.kind == "var_positional":
            positional.append("*" + param.name)
        elif param.kind == "keyword_only":
            keyword.append(f"{_quote(param.name)}: {param.name}")
        else:
            keyword.append("**" + param.name)
    args = "(" + ", ".join(positional) + ("," if len(positional) == 1 else "") + ")"
    call = f"{RUNTIME}.step_call({_quote(step_id)}, {args}, {{{', '.join(keyword)}}}"
    if captures:
        call += ", {" + ", ".join(f"{_quote(name)}: {name}" for name in captures) + "}"
    return _small(f"return {'await ' if is_async else ''}{call})")


def registration(mode: str, workflows: dict[str, str], steps: dict[str, str]) -> str:
    """The one line added at the end of every compiled module."""
    return (
        f"import wdk.runtime.compiled as {RUNTIME}; "
        f"{RUNTIME}.register(globals(), {_quote(mode)}, {_table(workflows)}, {_table(steps)})"
    )


def has_stub_slot(node: cst.FunctionDef) -> bool:
    """Whether `place_stub` can put a stub into this function."""
    body = node.body
    if isinstance(body, cst.SimpleStatementSuite):
        return True
    assert isinstance(body, cst.IndentedBlock)
    first = body.body[0]
    if isinstance(first, cst.BaseCompoundStatement):
        return bool(first.leading_lines)
    return True


def place_stub(node: cst.FunctionDef, stub: cst.BaseSmallStatement) -> cst.FunctionDef:
    """`node` with `stub` run first, on the first body line, after a docstring."""
    body = node.body
    if isinstance(body, cst.SimpleStatementSuite):
        return node.with_changes(body=body.with_changes(body=_insert(body.body, stub)))
    assert isinstance(body, cst.IndentedBlock)
    first, *rest = body.body
    if isinstance(first, cst.SimpleStatementLine):
        first = first.with_changes(body=_insert(first.body, stub))
        return node.with_changes(body=body.with_changes(body=[first, *rest]))
    # A compound first statement: the stub replaces the first blank or
    # comment line above it (the comment stays, after the stub).
    assert isinstance(first, cst.BaseCompoundStatement)
    above = list(first.leading_lines)
    if not above:
        raise ValueError(f"no line for a stub in {node.name.value!r}")
    slot = above[0]
    line = cst.SimpleStatementLine(
        body=[stub],
        trailing_whitespace=cst.TrailingWhitespace(
            whitespace=cst.SimpleWhitespace("  " if slot.comment else ""),
            comment=slot.comment,
            newline=slot.newline,
        ),
    )
    first = first.with_changes(leading_lines=above[1:])
    return node.with_changes(body=body.with_changes(body=[line, first, *rest]))


def _insert(
    statements: Sequence[cst.BaseSmallStatement], stub: cst.BaseSmallStatement
) -> list[cst.BaseSmallStatement]:
    items = list(statements)
    at = (
        1
        if items and isinstance(items[0], cst.Expr) and isinstance(items[0].value, cst.SimpleString)
        else 0
    )
    if at == len(items):
        # The stub ends the line; drop a trailing ';' the docstring might carry.
        items[-1] = items[-1].with_changes(semicolon=cst.MaybeSentinel.DEFAULT)
    return [*items[:at], stub, *items[at:]]


def _small(code: str) -> cst.BaseSmallStatement:
    # Parsed inside an async def so `return await` is in a valid place.
    wrapper = cst.parse_module(f"async def _():\n    {code}\n")
    function = wrapper.body[0]
    assert isinstance(function, cst.FunctionDef) and isinstance(function.body, cst.IndentedBlock)
    line = function.body.body[0]
    assert isinstance(line, cst.SimpleStatementLine)
    return line.body[0]


def _quote(text: str) -> str:
    return json.dumps(text)


def _table(table: dict[str, str]) -> str:
    return "{" + ", ".join(f"{_quote(k)}: {_quote(v)}" for k, v in table.items()) + "}"
