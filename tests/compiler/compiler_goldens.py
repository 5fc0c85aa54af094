"""Shared helpers for the compiler tests: fixture cases and statement lines."""

from __future__ import annotations

import ast
import importlib.util
import sys
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "fixtures"


def regen_script() -> ModuleType:
    """scripts/regen_fixtures.py, imported so the test renders exactly as it does."""
    if "regen_fixtures" in sys.modules:
        return sys.modules["regen_fixtures"]
    spec = importlib.util.spec_from_file_location(
        "regen_fixtures", ROOT / "scripts" / "regen_fixtures.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["regen_fixtures"] = module
    spec.loader.exec_module(module)
    return module


def case_names() -> list[str]:
    return sorted(p.parent.name for p in FIXTURES.glob("*/input.py"))


def read(path: Path) -> str:
    with path.open(encoding="utf-8", newline="") as file:
        return file.read()


def statement_lines(source: str) -> set[tuple[int, str]]:
    """(line, statement type) of every statement in `source`."""
    return {
        (node.lineno, type(node).__name__)
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.stmt)
    }
