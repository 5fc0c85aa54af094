"""What every compiler pass shares about one source file."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property

import libcst as cst
from libcst.metadata import CodeRange, MetadataWrapper, PositionProvider

from wdk.errors import Diagnostic

# Nodes that can hold a def or class somewhere below them. The passes only
# walk these: the rest of the tree (expressions, whitespace) is most of its
# nodes, and libcst's visitor recurses once per nesting level.
CONTAINERS = (
    cst.Module,
    cst.IndentedBlock,
    cst.BaseCompoundStatement,
    cst.Else,
    cst.ExceptHandler,
    cst.ExceptStarHandler,
    cst.Finally,
    cst.MatchCase,
)


@dataclass(frozen=True)
class SourceContext:
    """One parsed file: where it is, its lines, and node positions."""

    path: str
    module: str
    lines: tuple[str, ...]
    wrapper: MetadataWrapper

    @cached_property
    def positions(self) -> Mapping[cst.CSTNode, CodeRange]:
        """Node positions, computed on first use: most files that pass the
        text pre-check turn out to have no directive and never need them."""
        return self.wrapper.resolve(PositionProvider)

    def where(self, node: cst.CSTNode) -> tuple[int, int]:
        """(line, 1-based column) of a node's start."""
        start = self.positions[node].start
        return start.line, start.column + 1

    def diagnostic(self, node: cst.CSTNode, message: str, hint: str = "") -> Diagnostic:
        """A located error pointing at `node`."""
        line, column = self.where(node)
        return self.at(line, column, message, hint)

    def at(self, line: int, column: int, message: str, hint: str = "") -> Diagnostic:
        """A located error at an explicit (line, 1-based column)."""
        text = self.lines[line - 1] if 0 < line <= len(self.lines) else ""
        return Diagnostic(self.path, line, column, message, hint, text.rstrip("\r\n"))
