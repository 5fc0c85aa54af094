"""`wdk build`: output trees, manifest, incremental rebuilds, diagnostics, bad input."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import wdk.compiler.build as build_mod
from wdk.cli.main import main
from wdk.compiler.build import build

ORDERS = '''\
"""Orders: one workflow, two steps."""
import asyncio


async def reserve(sku: str, qty: int = 1) -> dict:
    "use step"
    return {"sku": sku, "qty": qty}


def audit(event: str) -> None:
    "use step"
    print(event)


async def place_order(sku: str, qty: int = 2) -> dict:
    "use workflow"
    item = await reserve(sku, qty)
    await asyncio.gather(reserve("gift"), reserve("card"))
    return item
'''

LONE = """\
async def ping(host: str) -> str:
    "use step"
    return host
"""

BAD_SYNC_WORKFLOW = """\
def not_async():
    "use workflow"
    return 1
"""


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    write(tmp_path / "shop" / "__init__.py", "")
    write(tmp_path / "shop" / "orders.py", ORDERS)
    write(tmp_path / "shop" / "util.py", "def helper() -> int:\n    return 1\n")
    write(tmp_path / "lone.py", LONE)
    write(tmp_path / ".hidden" / "secret.py", LONE)
    write(tmp_path / ".venv" / "lib" / "dep.py", LONE)
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.fixture
def compile_calls(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str]]:
    """Records every (module, mode) the build compiles."""
    from wdk.compiler import api

    calls: list[tuple[str, str]] = []
    real = api.compile_source

    def counting(source: str, module: str, mode: str, *, path: str) -> str:
        calls.append((module, mode))
        return real(source, module, mode, path=path)  # type: ignore[arg-type]

    monkeypatch.setattr(api, "compile_source", counting)
    return calls


def manifest(root: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((root / ".wdk/build/manifest.json").read_text())
    return data


def test_build_writes_three_trees_and_manifest(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["build"]) == 0
    out = project / ".wdk" / "build"
    for mode in ("client", "step", "workflow"):
        assert (out / mode / "shop" / "orders.py").is_file()
        assert (out / mode / "lone.py").is_file()
    # Plain modules, hidden folders and virtualenvs are not built.
    assert not list(out.rglob("util.py"))
    assert not list(out.rglob("secret.py"))
    assert not list(out.rglob("dep.py"))
    assert "workflow_called_directly" in (out / "client/shop/orders.py").read_text()
    # Line numbers are kept: the workflow's `def` is on the same line everywhere.
    src_lines = ORDERS.splitlines()
    for mode in ("client", "step", "workflow"):
        lines = (out / mode / "shop/orders.py").read_text().splitlines()
        assert (
            lines[14] == src_lines[14] == "async def place_order(sku: str, qty: int = 2) -> dict:"
        )

    data = manifest(project)
    assert data["wdk_version"]
    assert len(data["deployment_id"]) == 64
    [wf] = data["workflows"]
    assert wf["id"] == "workflow//shop.orders//place_order"
    assert (wf["kind"], wf["module"], wf["qualname"], wf["file"]) == (
        "workflow",
        "shop.orders",
        "place_order",
        "shop/orders.py",
    )
    assert wf["line"] == 15 and wf["is_async"] is True and wf["returns"] == "dict"
    assert [(p["name"], p["annotation"], p["default"]) for p in wf["params"]] == [
        ("sku", "str", None),
        ("qty", "int", "2"),
    ]
    assert len(wf["source_hash"]) == 64
    steps = {s["id"]: s for s in data["steps"]}
    assert set(steps) == {
        "step//shop.orders//reserve",
        "step//shop.orders//audit",
        "step//lone//ping",
    }
    assert steps["step//shop.orders//audit"]["is_async"] is False
    assert steps["step//lone//ping"]["file"] == "lone.py"
    assert {m["module"] for m in data["modules"]} == {"shop.orders", "lone"}
    assert "built" in capsys.readouterr().out


def test_deployment_id_is_stable_and_follows_code(project: Path) -> None:
    first = build(["."]).deployment_id
    assert build(["."]).deployment_id == first
    write(project / "lone.py", LONE.replace("return host", "return host.upper()"))
    assert build(["."]).deployment_id != first


def test_incremental_rebuild_compiles_only_changed_files(
    project: Path, compile_calls: list[tuple[str, str]]
) -> None:
    assert build(["."]).ok
    assert {m for m, _ in compile_calls} == {"shop.orders", "lone"}
    kept = project / ".wdk/build/step/shop/orders.py"
    kept_mtime = kept.stat().st_mtime_ns

    compile_calls.clear()
    warm = build(["."])
    assert compile_calls == [] and warm.compiled == []
    assert sorted(warm.cached) == ["lone.py", "shop/orders.py"]

    write(project / "lone.py", LONE + "\n\nasync def pong() -> None:\n    'use step'\n")
    write(project / "shop" / "billing.py", LONE.replace("ping", "bill"))
    compile_calls.clear()
    result = build(["."])
    assert sorted({m for m, _ in compile_calls}) == ["lone", "shop.billing"]
    assert sorted(result.compiled) == ["lone.py", "shop/billing.py"]
    assert kept.stat().st_mtime_ns == kept_mtime
    assert "step//lone//pong" in {s["id"] for s in manifest(project)["steps"]}


def test_deleted_and_undirected_sources_lose_their_outputs(project: Path) -> None:
    assert build(["."]).ok
    out = project / ".wdk/build"
    (project / "lone.py").unlink()
    write(project / "shop" / "orders.py", "def plain() -> None:\n    pass\n")
    result = build(["."])
    assert sorted(result.removed) == ["lone.py", "shop/orders.py"]
    assert not list(out.rglob("*.py"))
    assert not (out / "client" / "shop").exists()  # emptied folders go too
    assert manifest(project)["workflows"] == manifest(project)["steps"] == []


def test_deleted_output_is_rewritten(project: Path) -> None:
    assert build(["."]).ok
    target = project / ".wdk/build/workflow/lone.py"
    target.unlink()
    assert build(["."]).compiled == ["lone.py"]
    assert target.is_file()


def test_check_writes_nothing(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["build", "--check"]) == 0
    assert not (project / ".wdk").exists()
    assert "nothing written" in capsys.readouterr().out


def test_tree_lists_workflows_and_steps(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["build", "--tree"]) == 0
    out = capsys.readouterr().out
    for name in (
        "shop.orders",
        "place_order(sku, qty)",
        "reserve(sku, qty)",
        "audit(event)",
        "lone",
        "ping(host)",
    ):
        assert name in out


def test_all_errors_of_all_files_are_reported(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write(project / "bad1.py", BAD_SYNC_WORKFLOW)
    write(project / "shop" / "bad2.py", "\n\n" + BAD_SYNC_WORKFLOW)
    assert main(["build"]) == 1
    err = capsys.readouterr().err
    assert "bad1.py:1:1: error: " in err
    assert "shop/bad2.py:3:1: error: " in err
    assert "    3 | def not_async():" in err
    assert "      | ^" in err  # the caret under column 1
    assert "Traceback" not in err
    # A failed build leaves no deployable manifest, but the good modules are built.
    assert not (project / ".wdk/build/manifest.json").exists()
    assert (project / ".wdk/build/client/shop/orders.py").is_file()


def test_json_output_parses(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write(project / "bad.py", BAD_SYNC_WORKFLOW)
    assert main(["build", "--json", "--check"]) == 1
    report = json.loads(capsys.readouterr().out)
    assert report["ok"] is False
    assert report["summary"]["errors"] == len(report["diagnostics"]) >= 1
    first = report["diagnostics"][0]
    assert (first["path"], first["line"], first["column"], first["severity"]) == (
        "bad.py",
        1,
        1,
        "error",
    )
    assert first["message"]

    (project / "bad.py").unlink()
    assert main(["build", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["ok"] is True and report["diagnostics"] == []
    assert report["summary"]["workflows"] == 1 and report["summary"]["steps"] == 3
    assert "workflow//shop.orders//place_order" in report["workflows"]


def test_failed_file_loses_stale_outputs_then_recovers(project: Path) -> None:
    assert build(["."]).ok
    write(project / "lone.py", BAD_SYNC_WORKFLOW)
    failed = build(["."])
    assert not failed.ok
    assert not (project / ".wdk/build/client/lone.py").exists()
    again = build(["."])  # the cached failure is reported again, without recompiling
    assert again.compiled == [] and [d.line for d in again.diagnostics] == [
        d.line for d in failed.diagnostics
    ]
    write(project / "lone.py", LONE)
    assert build(["."]).ok


def test_two_files_with_one_module_name_are_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write(tmp_path / "a" / "lone.py", LONE)
    write(tmp_path / "b" / "lone.py", LONE)
    monkeypatch.chdir(tmp_path)
    result = build(["a", "b"], check=True)
    assert [d.path for d in result.diagnostics] == ["b/lone.py"]
    assert "a/lone.py" in result.diagnostics[0].message


def test_process_pool_gives_the_same_result(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for i in range(4):
        write(tmp_path / f"m{i}.py", LONE.replace("ping", f"ping{i}"))
    write(tmp_path / "bad.py", BAD_SYNC_WORKFLOW)
    monkeypatch.chdir(tmp_path)
    serial = build(["."], "serial", workers=1)
    monkeypatch.setattr(build_mod, "_POOL_MIN_FILES", 2)
    pooled = build(["."], "pooled", workers=2)
    assert pooled.manifest == {} == serial.manifest  # bad.py fails both
    assert pooled.modules == serial.modules and pooled.diagnostics == serial.diagnostics
    assert sorted(p.name for p in (tmp_path / "pooled/workflow").iterdir()) == [
        f"m{i}.py" for i in range(4)
    ]


# --- bad input: one clear line, exit status 1, no traceback ------------------------


def one_error(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err
    assert "Traceback" not in err
    lines = [line for line in err.splitlines() if "error" in line]
    assert len(lines) >= 1
    return lines[0]


def test_missing_path(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["build", "no/such/dir"]) == 1
    err = capsys.readouterr().err
    assert err.strip() == "wdk: error: no/such/dir: no such file or directory"


def test_unwritable_output_folder(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write(project / "occupied", "a file where a folder should be")
    assert main(["build", "--out", "occupied/build"]) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert err.startswith("wdk: error: cannot write to output folder ") and "occupied" in err


def test_unreadable_file(
    project: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    locked = write(project / "locked.py", LONE)
    locked.chmod(0)
    if os.geteuid() == 0:  # root reads anything: make the read fail as it would for a user
        real = Path.read_bytes

        def read_bytes(self: Path) -> bytes:
            if self.name == "locked.py":
                raise PermissionError(13, "Permission denied", str(self))
            return real(self)

        monkeypatch.setattr(Path, "read_bytes", read_bytes)
    try:
        assert main(["build"]) == 1
    finally:
        locked.chmod(0o644)
    assert one_error(capsys) == "locked.py: error: cannot read file: Permission denied"


def test_syntax_error_is_located(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write(project / "broken.py", 'async def wf():\n    "use workflow"\n    return (1,\n\nx = = 2\n')
    assert main(["build"]) == 1
    line = one_error(capsys)
    assert line.startswith("broken.py:") and ": error: " in line
    _, lineno, col, *_ = line.split(":")
    assert int(lineno) >= 3 and int(col) >= 1


def test_non_utf8_source(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = b'async def wf():\n    "use workflow"\n    # caf\xe9\n    return 1\n'
    (project / "latin.py").write_bytes(data)
    (project / "legacy.py").write_bytes(b"# no directive here: caf\xe9\n")  # not ours to judge
    assert main(["build"]) == 1
    line = one_error(capsys)
    offset = data.index(b"\xe9")
    assert line == f"latin.py:3:10: error: not valid UTF-8: byte 0xe9 at byte offset {offset}"


def test_python_m_wdk_help() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "wdk", "--help"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert "build" in proc.stdout and "example" in proc.stdout


def test_every_command_help_has_an_example(capsys: pytest.CaptureFixture[str]) -> None:
    from wdk.cli.main import COMMANDS

    for name in COMMANDS:
        assert main([name, "--help"]) == 0
        assert "example" in capsys.readouterr().out.lower()


def test_no_command_prints_help(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 2
    assert "usage: wdk" in capsys.readouterr().out
