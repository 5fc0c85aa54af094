"""What the operability tests share (imported by name: every test folder has a conftest)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent


@dataclass
class Traces:
    """The SDK tracer provider of a test, and its in-memory exporter."""

    provider: Any
    exporter: Any

    def finished(self) -> list[Any]:
        return list(self.exporter.get_finished_spans())
