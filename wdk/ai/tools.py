"""Tools: functions the model may call, described by their signature.

    async def get_weather(city: str, unit: Literal["C", "F"] = "C") -> str:
        "use step"
        '''Current weather for a city.'''
        ...

    tools = [get_weather, tool(delete_file, needs_approval=True)]

A tool's name is the function's name, its description the docstring (for a
function whose docstring is the directive, the string statement right after
it), and its JSON schema comes from the parameters' type hints through
msgspec. A `"use step"` tool runs as a step; a plain async function runs as
workflow code, so it may `sleep()` or wait on a hook.
"""

from __future__ import annotations

import ast
import functools
import inspect
import textwrap
import typing
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import msgspec

__all__ = ["Tool", "tool"]

_DIRECTIVES = ("use step", "use workflow")


@dataclass(frozen=True)
class Tool:
    """A function the agent offers to the model (build one with `tool()`)."""

    fn: Callable[..., Any]
    name: str
    description: str
    needs_approval: bool = False
    _args: type[msgspec.Struct] = field(default=msgspec.Struct, repr=False, compare=False)

    @property
    def parameters(self) -> dict[str, Any]:
        """The JSON schema of the arguments (an object)."""
        return _schema(self._args)

    def spec(self) -> dict[str, Any]:
        """{"name", "description", "parameters"}: what the model clients send."""
        return {"name": self.name, "description": self.description, "parameters": self.parameters}

    def arguments(self, args: dict[str, Any]) -> dict[str, Any]:
        """The model's arguments checked and converted to the parameters' types;
        msgspec.ValidationError says what is wrong (sent back to the model)."""
        parsed = msgspec.convert(args, self._args)
        return {f: getattr(parsed, f) for f in self._args.__struct_fields__}

    async def __call__(self, args: dict[str, Any]) -> Any:
        result = self.fn(**args)
        return await result if inspect.isawaitable(result) else result


def tool(
    fn: Callable[..., Any],
    needs_approval: bool = False,
    name: str | None = None,
    description: str | None = None,
) -> Tool:
    """Describe `fn` as a tool. `needs_approval=True`: the agent waits, durably,
    for `resume_hook(token, {"approved": bool})` before running it."""
    if isinstance(fn, Tool):
        return Tool(
            fn.fn, name or fn.name, description or fn.description,
            needs_approval or fn.needs_approval, fn._args,
        )
    target = inspect.unwrap(fn)
    tool_name = name or getattr(target, "__name__", None)
    if not tool_name:
        raise TypeError(f"{fn!r} has no name: pass tool(fn, name=...)")
    return Tool(
        fn, tool_name, description if description is not None else describe(fn),
        needs_approval, _arguments_struct(tool_name, target),
    )


def as_tool(value: Any) -> Tool:
    return value if isinstance(value, Tool) else tool(value)


def describe(fn: Callable[..., Any]) -> str:
    """The docstring, or for a directive docstring the string statement after it."""
    doc = inspect.getdoc(fn) or ""
    if doc.strip() not in _DIRECTIVES:
        return doc.strip()
    return _after_directive(inspect.unwrap(fn))


def _after_directive(fn: Any) -> str:
    code = getattr(fn, "__code__", None)
    return _second_string(code) if code is not None else ""


@functools.lru_cache(maxsize=256)
def _second_string(code: Any) -> str:
    # Read from the function's source file: the compiler keeps every line, so
    # the workflow-mode function points at the same lines as the real one.
    try:
        source = textwrap.dedent(inspect.getsource(code))
        node = ast.parse(source).body[0]
    except (OSError, TypeError, SyntaxError, IndexError):
        return ""
    if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
        return ""
    # [1:3]: in a `wdk build` workflow-mode file the directive's line also
    # holds the compiler's `return` stub, a statement of its own.
    for stmt in node.body[1:3]:
        if isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Constant) and isinstance(stmt.value.value, str):
            return inspect.cleandoc(stmt.value.value)
    return ""


def _arguments_struct(name: str, fn: Callable[..., Any]) -> type[msgspec.Struct]:
    signature = inspect.signature(fn)
    try:
        hints = typing.get_type_hints(fn)
    except Exception:  # an annotation that does not resolve: that parameter takes any value
        hints = {}
    fields: list[tuple[str, Any] | tuple[str, Any, Any]] = []
    for param in signature.parameters.values():
        if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            continue
        if param.kind is param.POSITIONAL_ONLY:
            raise TypeError(f"tool {name!r}: parameter {param.name!r} is positional-only; the model passes arguments by name")
        hint = hints.get(param.name, Any)
        if param.default is param.empty:
            fields.append((param.name, hint))
        else:
            fields.append((param.name, hint, param.default))
    return msgspec.defstruct(f"{name}_args", fields, forbid_unknown_fields=True)


@functools.lru_cache(maxsize=256)
def _schema(struct: type[msgspec.Struct]) -> dict[str, Any]:
    full = msgspec.json.schema(struct)
    defs: dict[str, Any] = dict(full.get("$defs", {}))
    ref = full.get("$ref", "")
    top = dict(defs.pop(ref.rpartition("/")[2], full))
    top.pop("title", None)
    top.setdefault("properties", {})
    if defs:  # nested types (dataclasses, Structs) stay referable
        top["$defs"] = defs
    return top
