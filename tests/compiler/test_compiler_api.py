"""The compiler's public API: pre-check, module names, analysis, errors."""

from __future__ import annotations

from pathlib import Path

import libcst as cst
import pytest
from compiler_goldens import FIXTURES, case_names, read
from libcst.metadata import MetadataWrapper, PositionProvider

from wdk.compiler.api import (
    analyze_source,
    compile_source,
    compiled_mode,
    has_directive,
    module_name_for_path,
)
from wdk.compiler.model import ParamInfo
from wdk.errors import CompileError

FLOW = '''\
class Billing:
    @classmethod
    async def fee(cls, amount: int, /, rate: float = 0.1, *rest: int, currency: str = "EUR", **kw: str) -> float:
        "use step"
        return amount * rate

    def count(self) -> int:
        "use step"
        return 1


async def checkout(order_id: str) -> None:
    """use workflow"""
    base = 3

    def audit() -> int:
        "use step"
        return base

    await audit()
'''


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ('def f():\n    "use step"\n', True),
        ("def f():\n    '''use workflow'''\n", True),
        ('def f():\n    """\n    use step\n    """\n', True),
        ('def f():\n    "use stepp"\n', True),  # a near miss must be looked at
        ('def f():\n    "Use_Workflow"\n', True),
        ('def f():\n    "Fetch the user."\n', False),
        ("x = 'user'  # because we use it\n", False),
        ("", False),
    ],
)
def test_precheck(source: str, expected: bool) -> None:
    assert has_directive(source) is expected


def test_module_names_follow_packages(tmp_path: Path) -> None:
    (tmp_path / "app" / "orders").mkdir(parents=True)
    (tmp_path / "app" / "__init__.py").write_text("")
    (tmp_path / "app" / "orders" / "__init__.py").write_text("")
    (tmp_path / "app" / "orders" / "flows.py").write_text("")
    (tmp_path / "shop.py").write_text("")
    (tmp_path / "loose" / "pkg").mkdir(parents=True)
    (tmp_path / "loose" / "pkg" / "__init__.py").write_text("")
    assert module_name_for_path(tmp_path / "app" / "orders" / "flows.py") == "app.orders.flows"
    assert module_name_for_path(str(tmp_path / "shop.py")) == "shop"
    assert module_name_for_path(tmp_path / "app" / "__init__.py") == "app"
    assert module_name_for_path(tmp_path / "app" / "orders" / "__init__.py") == "app.orders"
    assert module_name_for_path(tmp_path / "loose" / "pkg" / "__init__.py") == "pkg"
    assert module_name_for_path(tmp_path / "loose" / "mod.py") == "mod"


def test_analysis_describes_every_function() -> None:
    info = analyze_source(FLOW, "shop.orders", path="shop/orders.py")
    assert [(f.kind, f.id, f.method, f.line, f.column, f.is_async) for f in info.functions] == [
        ("step", "step//shop.orders//Billing.fee", "classmethod", 3, 5, True),
        ("step", "step//shop.orders//Billing.count", "instance", 7, 5, False),
        ("workflow", "workflow//shop.orders//checkout", None, 12, 1, True),
        ("step", "step//shop.orders//checkout.<locals>.audit", None, 16, 5, False),
    ]
    fee = info.steps[0]
    assert fee.params == (
        ParamInfo("cls", "positional_only", None, None),
        ParamInfo("amount", "positional_only", "int", None),
        ParamInfo("rate", "positional_or_keyword", "float", "0.1"),
        ParamInfo("rest", "var_positional", "int", None),
        ParamInfo("currency", "keyword_only", "str", '"EUR"'),
        ParamInfo("kw", "var_keyword", "str", None),
    )
    assert fee.returns == "float"
    assert info.steps[2].captures == ("base",)
    assert [w.qualname for w in info.workflows] == ["checkout"]
    assert info.path == "shop/orders.py" and len(info.source_hash) == 64


def test_analysis_reads_the_step_options_of_each_step() -> None:
    source = read(FIXTURES / "step_options" / "input.py")
    options = {f.qualname: f.options for f in analyze_source(source, "shop").functions}
    assert options == {
        "charge": (("max_retries", "5"), ("retry_delay", '"2s"'), ("timeout", "timedelta(seconds=30)")),
        "export": (("timeout", '"1m"'), ("max_retries", "RETRIES")),
        "Billing.fee": (("max_retries", "0"),),
        "checkout": (),
    }


def test_function_hash_changes_only_with_that_function() -> None:
    before = {f.qualname: f.source_hash for f in analyze_source(FLOW, "m").functions}
    edited = FLOW.replace("return amount * rate", "return amount * rate * 2")
    after = {f.qualname: f.source_hash for f in analyze_source(edited, "m").functions}
    assert before["Billing.fee"] != after["Billing.fee"]
    assert before["checkout"] == after["checkout"]


def test_module_without_directive_is_returned_as_is() -> None:
    plain = 'def f():\n    "Use steps to fetch data."\n    return 1\n'
    for mode in ("client", "step", "workflow"):
        assert compile_source(plain, "m", mode) is plain  # type: ignore[arg-type]
    assert analyze_source(plain, "m").functions == ()


def test_compiled_output_is_not_compiled_again() -> None:
    """`wdk build` output imported through the import hook stays as it is."""
    client = compile_source(FLOW, "m", "client")
    assert compiled_mode(client) == "client" and compiled_mode(FLOW) is None
    assert compile_source(client, "m", "client") is client
    assert compile_source(client, "m", "step") is client  # the same program
    workflow = compile_source(FLOW, "m", "workflow")
    assert compile_source(workflow, "m", "workflow") is workflow
    with pytest.raises(CompileError) as raised:
        compile_source(client, "m", "workflow", path="built.py")
    [diagnostic] = raised.value.diagnostics
    assert diagnostic.line == len(client.splitlines())
    assert "client-mode output" in diagnostic.message


def test_compiles_are_cached_by_content() -> None:
    first = compile_source(FLOW, "m", "workflow")
    assert compile_source(FLOW, "m", "workflow") is first
    assert compile_source(FLOW, "other", "workflow") != first


def test_unknown_mode_is_refused() -> None:
    with pytest.raises(ValueError, match="mode must be one of"):
        compile_source(FLOW, "m", "server")  # type: ignore[arg-type]


def test_syntax_error_is_one_located_diagnostic() -> None:
    source = 'async def flow():\n    "use workflow"\n    return (1 +\n\nx = 2\n'
    with pytest.raises(CompileError) as raised:
        compile_source(source, "m", "client", path="bad.py")
    [diagnostic] = raised.value.diagnostics
    assert (diagnostic.path, diagnostic.line) == ("bad.py", 3)
    assert diagnostic.column >= 1 and diagnostic.message.startswith("syntax error: ")
    assert diagnostic.source_line == "    return (1 +"
    assert "Traceback" not in str(raised.value)


def test_all_errors_of_a_file_are_reported_at_once() -> None:
    source = (
        "import os\n"
        "def a():\n    'use workflow'\n"
        "async def b():\n    'use workflow'\n    os.getcwd()\n    open('x')\n"
        "async def c():\n    'use stepp'\n"
    )
    with pytest.raises(CompileError) as raised:
        analyze_source(source, "m", path="p.py")
    found = [(d.line, d.message.split(" ")[0]) for d in raised.value.diagnostics]
    assert found == [(2, "workflow"), (6, "'os.getcwd'"), (7, "'open'"), (9, "function")]
    assert all(d.hint and d.source_line for d in raised.value.diagnostics)
    assert str(raised.value).count("p.py:") == 4


def test_crlf_and_tabs_are_kept() -> None:
    source = 'async def s(x):\r\n\t"use step"\r\n\treturn x\r\n'
    out = compile_source(source, "m", "workflow")
    lines = out.split("\r\n")
    assert lines[1] == '\t"use step"; return await __wdk__.step_call("step//m//s", (x,), {})'
    assert lines[2] == "\treturn x"
    assert lines[3].startswith("import wdk.runtime.compiled as __wdk__;") and lines[4] == ""
    compile(out, "crlf", "exec")


def test_stub_replaces_blank_line_before_compound_statement() -> None:
    source = '"use step"\n\nasync def s(rows):\n\n    for r in rows:\n        print(r)\n'
    out = compile_source(source, "m", "workflow").splitlines()
    assert out[3] == '    return await __wdk__.step_call("step//m//s", (rows,), {})'
    assert out[4] == "    for r in rows:"


def test_module_with_two_directives_is_refused() -> None:
    with pytest.raises(CompileError, match="the module docstring has two directives"):
        compile_source('"use step"\n"use workflow"\nasync def f():\n    pass\n', "m", "client")


def test_too_deep_workflow_is_a_located_error_not_a_crash() -> None:
    # 1,000 terms are already too deep (500 are); libcst's parse time grows
    # with the square of the depth: 3,000 took 10-18 s.
    source = 'async def f():\n    "use workflow"\n    x = ' + " + ".join(["1"] * 1000) + "\n"
    with pytest.raises(CompileError, match="nested too deeply") as raised:
        compile_source(source, "m", "client", path="deep.py")
    assert raised.value.diagnostics[0].path == "deep.py"


@pytest.mark.parametrize("case", [c for c in case_names() if not (FIXTURES / c / "errors.txt").exists()])
def test_function_positions_match_libcst(case: str) -> None:
    # analyze_source takes def positions from Python's ast (fast); check them
    # against libcst's own PositionProvider.
    source = read(FIXTURES / case / "input.py")
    wrapper = MetadataWrapper(cst.parse_module(source))
    positions = wrapper.resolve(PositionProvider)
    defs = [n for n in positions if isinstance(n, cst.FunctionDef)]
    expected = {(positions[n].start.line, positions[n].start.column + 1) for n in defs}
    got = {(f.line, f.column) for f in analyze_source(source, case).functions}
    assert got <= expected
