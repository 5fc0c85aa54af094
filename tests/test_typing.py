"""The public API as a type checker sees it: `mypy --strict` accepts the
typed usage in tests/typing and refuses every mistake in tests/typing_errors,
with the error each one is marked with (`# E: [code] message`)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
GOOD = ROOT / "tests" / "typing"
BAD = ROOT / "tests" / "typing_errors"
_MARK = re.compile(r"#\s*E:\s*\[([a-z-]+)\]\s*(.+?)\s*$")
_ERROR = re.compile(r"^(?P<file>[^:]+):(?P<line>\d+): error: (?P<message>.+?)  \[(?P<code>[a-z-]+)\]$")


def _mypy(cache: Path, *paths: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("MYPYPATH", "PYTHONPATH")}
    return subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--no-error-summary", "--hide-error-context",
         "--cache-dir", str(cache), *map(str, paths)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=240,
    )


def expected_errors(path: Path) -> dict[int, tuple[str, str]]:
    """line -> (error code, start of the message), from the `# E:` marks."""
    marks = {}
    for number, line in enumerate(path.read_text().splitlines(), 1):
        if (found := _MARK.search(line)) is not None:
            marks[number] = (found.group(1), found.group(2))
    return marks


def reported_errors(output: str, path: Path) -> dict[int, list[tuple[str, str]]]:
    errors: dict[int, list[tuple[str, str]]] = {}
    for line in output.splitlines():
        found = _ERROR.match(line)
        if found is not None and Path(found["file"]).name == path.name:
            errors.setdefault(int(found["line"]), []).append((found["code"], found["message"]))
    return errors


@pytest.mark.timeout(300)
def test_typed_usage_passes_and_each_mistake_is_the_error_it_is_marked_with(tmp_path: Path) -> None:
    good = _mypy(tmp_path, GOOD)
    assert good.returncode == 0, good.stdout + good.stderr
    bad_files = sorted(BAD.glob("*.py"))
    assert bad_files
    done = _mypy(tmp_path, *bad_files)
    assert done.returncode == 1, done.stdout + done.stderr
    for path in bad_files:
        expected = expected_errors(path)
        reported = reported_errors(done.stdout, path)
        assert expected, f"{path.name} marks no error"
        assert set(reported) == set(expected), (
            f"{path.name}: errors on lines {sorted(reported)}, marked on {sorted(expected)}\n{done.stdout}"
        )
        for line, (code, text) in expected.items():
            assert any(c == code and m.startswith(text) for c, m in reported[line]), (
                f"{path.name}:{line}: expected [{code}] {text!r}, got {reported[line]}"
            )


def test_the_marks_are_read_as_written(tmp_path: Path) -> None:
    """The control for the reader of marks and of mypy's output."""
    sample = tmp_path / "sample.py"
    sample.write_text('x: int = "a"  # E: [assignment] Incompatible types\ny = 1\n')
    assert expected_errors(sample) == {1: ("assignment", "Incompatible types")}
    output = f'{sample}:1: error: Incompatible types in assignment (expression has type "str", variable has type "int")  [assignment]\n'
    assert reported_errors(output, sample) == {
        1: [("assignment", 'Incompatible types in assignment (expression has type "str", variable has type "int")')]
    }
