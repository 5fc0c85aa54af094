"""examples/fastapi_app.py and examples/flask_app.py run and print their results."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


@pytest.mark.parametrize(
    ("script", "expected"),
    [
        ("fastapi_app.py", "result: ord-7: shipped 2 items"),
        ("flask_app.py", "result: {'approved_by': 'grace', 'carrier': 'DHL', 'receipt': 'receipt-ord-9-30'}"),
    ],
)
def test_framework_example_runs(script: str, expected: str, tmp_path: Path) -> None:
    out = subprocess.run(
        [sys.executable, str(EXAMPLES / script)], cwd=tmp_path, capture_output=True, text=True, timeout=60, check=False
    )
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-3000:]
    assert expected in out.stdout
    assert "HTTP 202" in out.stdout  # the webhook went through the framework's route
