"""The README's main job and the documented examples run end to end."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _run(script: str, tmp_path: Path, *args: str) -> str:
    out = subprocess.run(
        [sys.executable, str(ROOT / "examples" / script), *args],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=90,
        check=False,
    )
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-3000:]
    return out.stdout


@pytest.mark.timeout(120)
def test_demo_survives_its_own_sigkill(tmp_path: Path) -> None:
    out = _run("demo.py", tmp_path, "--data-dir", str(tmp_path / "demo"))
    assert "process 1 died" in out
    assert "completed" in out
    assert "'status': 'shipped'" in out


@pytest.mark.timeout(120)
@pytest.mark.parametrize("script", ["approval.py", "streaming.py"])
def test_documented_examples(script: str, tmp_path: Path) -> None:
    out = _run(script, tmp_path)
    assert "result:" in out
