"""The compiler never crashes: the whole stdlib, and directives dropped anywhere."""

from __future__ import annotations

import random
import sysconfig
import tokenize
import warnings
from functools import cache
from pathlib import Path

import pytest
from compiler_goldens import FIXTURES, read, statement_lines
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from wdk.compiler.analysis import analyze
from wdk.compiler.api import compile_source, has_directive
from wdk.errors import CompileError

MODES = ("client", "step", "workflow")


@cache
def stdlib_sources() -> list[tuple[Path, str]]:
    root = Path(sysconfig.get_paths()["stdlib"])
    sources = []
    for path in sorted(root.rglob("*.py")):
        if "site-packages" in path.parts:
            continue
        try:
            with tokenize.open(path) as file:  # honours coding cookies
                sources.append((path, file.read()))
        except (OSError, SyntaxError, UnicodeDecodeError):
            continue
    return sources


def is_python(source: str) -> bool:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            compile(source, "<check>", "exec", dont_inherit=True)
        except (SyntaxError, ValueError):
            return False
    return True


# The stdlib files the pre-check lets through are parsed in full. Those above
# this size (a third of them, up to 750 KB each) take nine tenths of the
# time: the suite compiles the others, `bench/compile.py` every one.
SMALL = 60_000


def test_stdlib_compiles_to_itself() -> None:
    sources = stdlib_sources()
    assert len(sources) > 500
    flagged = [(p, s) for p, s in sources if has_directive(s)]
    # The pre-check is what keeps the import hook cheap: it must pass ~all files.
    assert len(flagged) < len(sources) // 20
    small = [(p, s) for p, s in flagged if len(s) <= SMALL]
    assert len(small) >= 5, [p.name for p, _ in flagged]
    for path, source in small:
        if not is_python(source):
            continue  # the stdlib's deliberately broken test inputs
        for mode in MODES:
            assert compile_source(source, "std", mode, path=str(path)) is source, path  # type: ignore[arg-type]


def test_stdlib_sample_analyzes_without_the_precheck() -> None:
    # Bypass the pre-check so the full parse and directive search run too.
    sample = random.Random(7).sample(stdlib_sources(), 60)
    for path, source in sample:
        if len(source) > 60_000 or not is_python(source):
            continue
        assert analyze(source, "std", str(path)).targets == (), path


DIRECTIVES = [
    '"use step"',
    "'use workflow'",
    '"""use workflow"""',
    "r'use step'",
    '"use stepp"',
    '"Use Workflows"',
    '"use  step"',
    '"use step"; "use workflow"',
    'lambda: "use step"',
]


@cache
def corpus() -> list[str]:
    """Real code to mutate: the valid fixture inputs and a few stdlib modules."""
    texts = [
        read(p)
        for p in sorted(FIXTURES.glob("*/input.py"))
        if not (p.parent / "errors.txt").exists()
    ]
    wanted = {"bisect.py", "heapq.py", "textwrap.py", "contextlib.py", "shlex.py"}
    texts += [s for p, s in stdlib_sources() if p.name in wanted and p.parent.name == "python3.11"]
    return texts


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
    derandomize=True,
)
@given(
    which=st.integers(min_value=0),
    line=st.integers(min_value=0),
    directive=st.sampled_from(DIRECTIVES),
    indent=st.sampled_from(["same", "deeper", ""]),
    as_module_doc=st.booleans(),
)
def test_directives_anywhere_never_crash(
    which: int, line: int, directive: str, indent: str, as_module_doc: bool
) -> None:
    texts = corpus()
    lines = texts[which % len(texts)].splitlines(keepends=True)
    at = line % (len(lines) + 1)
    if as_module_doc:
        at = 0
    reference = lines[at] if at < len(lines) else ""
    prefix = reference[: len(reference) - len(reference.lstrip())].rstrip("\n")
    if indent == "deeper":
        prefix += "    "
    elif indent == "" or as_module_doc:
        prefix = ""
    source = "".join(lines[:at]) + prefix + directive + "\n" + "".join(lines[at:])
    for mode in MODES:
        try:
            output = compile_source(source, "fuzz", mode, path="fuzz.py")  # type: ignore[arg-type]
        except CompileError as error:
            assert error.diagnostics
            for d in error.diagnostics:
                assert d.path == "fuzz.py" and d.line >= 1 and d.column >= 1 and d.message
            return
        if output is not source and is_python(source):
            compile(output, "fuzz-out", "exec")
            assert statement_lines(source) <= statement_lines(output)


# Deeper than the compiler's recursion can follow (see test_compiler_api's
# too-deep test); not more: libcst's parse time grows with the square of it.
@pytest.mark.parametrize("depth", [50, 1000])
def test_deep_expressions_do_not_crash(depth: int) -> None:
    source = '"""use workflow"""\nx = ' + " + ".join(["'a'"] * depth) + "\n"
    try:
        assert compile_source(source, "deep", "client") is source  # no async def: nothing marked
    except CompileError as error:
        assert error.diagnostics[0].line == 1
