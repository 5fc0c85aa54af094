"""Finding directives: the text pre-check and the docstring classifier.

A directive is a function's (or module's) docstring whose text, stripped of
surrounding whitespace, is exactly `use workflow` or `use step`. A docstring
that starts with "use" and is within two edits of one (`use stepp`,
`Use Step`, `use  workflow`) is a near miss and reported with a hint.
"""

from __future__ import annotations

import ast
import re
import warnings
from typing import Literal

import libcst as cst

from wdk.compiler.model import Kind

DIRECTIVES: dict[str, Kind] = {"use workflow": "workflow", "use step": "step"}

# Every directive and near miss is a string literal whose text starts with
# "use" followed by an 's' or 'w' word; this is the only text that can make
# the compiler change a file, so a file without a match is left alone.
_PRECHECK = re.compile(r"""['"]\s*[uU][sS][eE][\W_]*[sSwW]""")
_NEAR_MISS_START = re.compile(r"use[\W_]*[sw]")
_MAX_EDITS = 2


def has_directive(source: str) -> bool:
    """Cheap text test run on every imported module: False means the source
    holds no directive (nor a near miss) and compiles to itself.

        has_directive('async def f():\\n    "use step"\\n')  # True
    """
    return _PRECHECK.search(source) is not None


def string_text(node: cst.BaseExpression) -> str | None:
    """The text of a plain (non-bytes, non-f) string literal, else None."""
    if not isinstance(node, cst.SimpleString) or "b" in node.prefix.lower():
        return None
    raw = node.raw_value
    if "\\" not in raw:
        return raw
    with warnings.catch_warnings():
        # An invalid escape ("\d") warns; the pytest config makes warnings errors.
        warnings.simplefilter("ignore")
        try:
            value = ast.literal_eval(node.value)
        except (ValueError, SyntaxError):
            return None
    return value if isinstance(value, str) else None


Classified = tuple[Literal["exact", "near"], str]


def classify(text: str) -> Classified | None:
    """("exact", directive) for a directive, ("near", closest directive) for a
    near miss, None for any other text."""
    stripped = text.strip()
    if stripped in DIRECTIVES:
        return ("exact", stripped)
    lowered = stripped.lower()
    if not _NEAR_MISS_START.match(lowered) or len(lowered) > 20:
        return None
    distance, closest = min((_edits(lowered, d), d) for d in DIRECTIVES)
    return ("near", closest) if distance <= _MAX_EDITS else None


def exact_directive(node: cst.BaseExpression) -> str | None:
    """The directive a string literal spells exactly, else None."""
    text = string_text(node)
    found = classify(text) if text is not None else None
    return found[1] if found is not None and found[0] == "exact" else None


def _edits(a: str, b: str) -> int:
    """Levenshtein distance (both strings are at most ~20 characters)."""
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        current = [i]
        for j, cb in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ca != cb)))
        previous = current
    return previous[-1]
