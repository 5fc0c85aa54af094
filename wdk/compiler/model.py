"""What the compiler knows about a module: its workflows and steps."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

Mode = Literal["client", "step", "workflow"]
Kind = Literal["workflow", "step"]


@dataclass(frozen=True)
class ParamInfo:
    name: str
    # "positional_only" | "positional_or_keyword" | "var_positional" | "keyword_only" | "var_keyword"
    kind: str
    annotation: str | None = None  # source text of the annotation
    default: str | None = None  # source text of the default value


@dataclass(frozen=True)
class FunctionInfo:
    kind: Kind
    id: str  # "workflow//<module>//<qualname>" or "step//<module>//<qualname>"
    module: str
    qualname: str  # Python's __qualname__, e.g. "Cls.method" or "wf.<locals>.inner"
    line: int
    column: int
    is_async: bool
    params: tuple[ParamInfo, ...]
    returns: str | None  # source text of the return annotation
    source_hash: str  # sha256 of the function's source text
    method: str | None = None  # None | "staticmethod" | "classmethod" | "instance"
    captures: tuple[str, ...] = ()  # enclosing-workflow locals a nested step reads
    options: tuple[tuple[str, str], ...] = ()  # @step_options keywords: (name, source text)


@dataclass(frozen=True)
class ModuleInfo:
    module: str
    path: str
    source_hash: str  # sha256 of the whole source
    functions: tuple[FunctionInfo, ...] = field(default=())

    @property
    def workflows(self) -> tuple[FunctionInfo, ...]:
        return tuple(f for f in self.functions if f.kind == "workflow")

    @property
    def steps(self) -> tuple[FunctionInfo, ...]:
        return tuple(f for f in self.functions if f.kind == "step")
