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
@pytest.mark.parametrize("script", ["approval.py", "streaming.py", "shapes.py"])
def test_documented_examples(script: str, tmp_path: Path) -> None:
    out = _run(script, tmp_path)
    assert "result:" in out


@pytest.mark.timeout(120)
def test_shapes_example_runs_each_shape_as_steps(tmp_path: Path) -> None:
    out = _run("shapes.py", tmp_path)
    assert "result: Pricing.quote -> 18" in out
    assert "steps: Cart.total, Pricing.fee, Pricing.scaled" in out
    assert "steps: greet_all.<locals>.greet, greet_all.<locals>.greet" in out
    assert "result: money_flow -> Money(300)" in out
    assert "steps: pick, apply_twice, Pricing.scaled" in out
    assert "stream tail index: 3" in out and "last chunk: [{'done': 4, 'of': 4}]" in out
    assert "open=True" in out and "doc-7 open now: False" in out
    assert "health: ok" in out


@pytest.mark.timeout(120)
def test_flow_control_example(tmp_path: Path) -> None:
    out = _run("flow_control.py", tmp_path)
    assert "peak at once: 2" in out
    assert "['acme#0', 'acme#1', 'acme#2', 'globex#0', 'globex#1', 'globex#2']" in out
    assert "(5 a second)" in out
    assert "order ['first', 'urgent', 'normal']" in out
    assert "result: 1 run: reindexed with v4" in out
    assert "heartbeat runs so far: True" in out


def test_deploys_example_blocks_then_patches(tmp_path: Path) -> None:
    """docs/deploys.md's worked example: blocked (not failed) on a code change,
    webhooks answering 202 meanwhile, every run finished after the patch."""
    out = _run("deploys.py", tmp_path)
    assert "$ wdk replay --all   (exit 1)" in out and "3 runs replayed: 0 ok, 3 diverged" in out
    assert "statuses: ['blocked', 'blocked', 'blocked']" in out
    assert out.count("HTTP 202") == 3
    assert "$ wdk replay --all   (exit 0)" in out
    assert "result: #3: 300 EUR, team told about #3, approved by cy" in out
    assert "the new run took the new branch: ['notify_team', 'get_quote']" in out
