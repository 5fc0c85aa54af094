"""The golden corpus: every fixture's outputs match, compile, and keep lines."""

from __future__ import annotations

import pytest
from compiler_goldens import FIXTURES, case_names, read, regen_script, statement_lines

CASES = case_names()
MODES = ("client", "step", "workflow")


def test_corpus_is_large_and_mixed() -> None:
    refused = [c for c in CASES if (FIXTURES / c / "errors.txt").exists()]
    assert len(CASES) >= 40
    assert 15 <= len(refused) < len(CASES) - 15


@pytest.mark.parametrize("case", CASES)
def test_goldens_have_not_drifted(case: str) -> None:
    folder = FIXTURES / case
    wanted = regen_script().render(case, read(folder / "input.py"))
    on_disk = {
        p.name for p in folder.iterdir() if p.name != "input.py" and p.suffix in (".py", ".txt")
    }
    assert on_disk == set(wanted), "stale or missing goldens: run scripts/regen_fixtures.py"
    for name, text in wanted.items():
        assert read(folder / name) == text, f"{case}/{name} drifted: run scripts/regen_fixtures.py"


@pytest.mark.parametrize("case", [c for c in CASES if not (FIXTURES / c / "errors.txt").exists()])
def test_outputs_compile_and_keep_every_statement_line(case: str) -> None:
    source = read(FIXTURES / case / "input.py")
    before = statement_lines(source)
    source_lines = source.splitlines()
    for mode in MODES:
        output = read(FIXTURES / case / f"{mode}.py")
        compile(output, f"{case}/{mode}.py", "exec")
        assert before <= statement_lines(output), f"{mode} moved a statement"
        if output == source:
            continue
        lines = output.splitlines()
        # One added line (the registration) at the very end, nothing else.
        assert len(lines) == len(source_lines) + 1
        assert lines[-1].startswith(
            "import wdk.runtime.compiled as __wdk__; __wdk__.register(globals(), "
        )
        assert f'"{mode}"' in lines[-1]


@pytest.mark.parametrize("case", [c for c in CASES if (FIXTURES / c / "errors.txt").exists()])
def test_refused_cases_have_located_errors(case: str) -> None:
    source_lines = read(FIXTURES / case / "input.py").splitlines()
    errors = read(FIXTURES / case / "errors.txt").splitlines()
    assert errors
    for error in errors:
        path, line, column, rest = error.split(":", 3)
        assert path == "input.py"
        assert 1 <= int(line) <= len(source_lines)
        assert 1 <= int(column) <= len(source_lines[int(line) - 1]) + 1
        assert rest.startswith(" error: ")
        # Every compiler error says what to do; Python's syntax errors speak for themselves.
        assert "(hint: " in rest or rest.startswith(" error: syntax error: ")
