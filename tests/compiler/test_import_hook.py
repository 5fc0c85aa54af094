"""The import hook: client mode for directive modules, everything else untouched."""

from __future__ import annotations

import importlib
import importlib.machinery
import importlib.util
import os
import subprocess
import sys
import traceback
import uuid
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

from wdk.compiler import import_hook as hook
from wdk.compiler.import_hook import (
    WdkFinder,
    WdkLoader,
    install_import_hook,
    uninstall_import_hook,
)
from wdk.errors import CompileError, WorkflowCalledDirectly

FLOWS = '''\
"""Flows used by the hook tests."""


async def double(x: int) -> int:
    "use step"
    return x * 2


async def explode() -> None:
    "use step"
    raise ValueError("boom")


async def doubling(x: int) -> int:
    "use workflow"
    return await double(x)
'''


def line_of(text: str) -> int:
    """1-based line of the first FLOWS line that contains `text`."""
    return next(n for n, line in enumerate(FLOWS.splitlines(), 1) if text in line)


class Sandbox:
    """A fresh top-level package on sys.path; forgets its modules afterwards."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.package = f"hookpkg_{uuid.uuid4().hex[:10]}"
        (root / self.package).mkdir()
        (root / self.package / "__init__.py").write_text("")

    def write(self, name: str, text: str) -> Path:
        path = self.root / self.package / f"{name}.py"
        path.write_text(text, encoding="utf-8")
        return path

    def load(self, name: str) -> ModuleType:
        importlib.invalidate_caches()
        return importlib.import_module(f"{self.package}.{name}")

    def forget(self) -> None:
        for key in [
            k for k in sys.modules if k == self.package or k.startswith(self.package + ".")
        ]:
            del sys.modules[key]


@pytest.fixture
def sandbox(tmp_path: Path) -> Iterator[Sandbox]:
    box = Sandbox(tmp_path)
    sys.path.insert(0, str(tmp_path))
    install_import_hook()
    try:
        yield box
    finally:
        uninstall_import_hook()
        box.forget()
        sys.path.remove(str(tmp_path))


async def test_directive_module_is_compiled_in_client_mode(sandbox: Sandbox) -> None:
    path = sandbox.write("flows", FLOWS)
    flows = sandbox.load("flows")
    assert isinstance(flows.__spec__.loader, WdkLoader)
    assert flows.__file__ == str(path)
    assert flows.__spec__.origin == str(path)
    assert flows.__wdk_mode__ == "client"
    module = f"{sandbox.package}.flows"
    assert flows.doubling.__wdk_workflow_id__ == f"workflow//{module}//doubling"
    assert flows.double.__wdk_step_id__ == f"step//{module}//double"
    assert await flows.double(21) == 42  # steps stay callable directly
    with pytest.raises(WorkflowCalledDirectly) as info:
        await flows.doubling(1)
    # The traceback points at the workflow's body line in the user's file
    # (then at the runtime's function that raises).
    *_, frame, raiser = traceback.extract_tb(info.value.__traceback__)
    assert (frame.filename, frame.lineno) == (str(path), line_of('"use workflow"'))
    assert raiser.name == "workflow_called_directly"


async def test_traceback_line_numbers_are_the_users(sandbox: Sandbox) -> None:
    path = sandbox.write("flows", FLOWS)
    flows = sandbox.load("flows")
    with pytest.raises(ValueError, match="boom") as info:
        await flows.explode()
    frame = traceback.extract_tb(info.value.__traceback__)[-1]
    assert (frame.filename, frame.lineno, frame.name) == (str(path), line_of("boom"), "explode")
    assert frame.line == 'raise ValueError("boom")'


def test_plain_module_is_left_alone(sandbox: Sandbox) -> None:
    sandbox.write("plain", "def f() -> int:\n    return 1\n")
    plain = sandbox.load("plain")
    assert type(plain.__spec__.loader) is importlib.machinery.SourceFileLoader
    assert not hasattr(plain, "__wdk_mode__")
    assert plain.f() == 1


def test_stdlib_and_site_packages_are_never_touched(tmp_path: Path, sandbox: Sandbox) -> None:
    finder = next(f for f in sys.meta_path if isinstance(f, WdkFinder))
    assert finder.find_spec("json.decoder", None) is None
    assert finder.find_spec("rich.tree", None) is None
    # A directive module inside a site-packages folder is a dependency's, not the user's.
    site = tmp_path / "lib" / "site-packages"
    site.mkdir(parents=True)
    name = f"vendored_{uuid.uuid4().hex[:8]}"
    (site / f"{name}.py").write_text(FLOWS)
    sys.path.insert(0, str(site))
    try:
        importlib.invalidate_caches()
        vendored = importlib.import_module(name)
        assert not hasattr(vendored, "__wdk_mode__")
    finally:
        sys.path.remove(str(site))
        sys.modules.pop(name, None)


def test_compile_error_surfaces_as_compile_error(sandbox: Sandbox) -> None:
    path = sandbox.write("broken", 'def sync_flow():\n    "use workflow"\n    return 1\n')
    with pytest.raises(CompileError) as info:
        sandbox.load("broken")
    [diagnostic] = info.value.diagnostics
    assert (diagnostic.path, diagnostic.line) == (str(path), 1)
    assert f"{path}:1:" in str(info.value)
    assert f"{sandbox.package}.broken" not in sys.modules


def test_syntax_error_in_directive_module_is_located(sandbox: Sandbox) -> None:
    path = sandbox.write("typo", 'async def flow():\n    "use workflow"\n    x = = 1\n')
    with pytest.raises(CompileError) as info:
        sandbox.load("typo")
    assert info.value.diagnostics[0].path == str(path)
    assert info.value.diagnostics[0].line == 3


def test_install_is_idempotent_and_placed_before_path_finder(sandbox: Sandbox) -> None:
    install_import_hook()
    install_import_hook()
    ours = [i for i, f in enumerate(sys.meta_path) if isinstance(f, WdkFinder)]
    assert len(ours) == 1
    assert ours[0] < sys.meta_path.index(importlib.machinery.PathFinder)
    # pytest's assertion rewriter, installed first, keeps first pick of test files.
    rewriters = [
        i for i, f in enumerate(sys.meta_path) if type(f).__name__ == "AssertionRewritingHook"
    ]
    assert all(i < ours[0] for i in rewriters)
    uninstall_import_hook()
    assert not any(isinstance(f, WdkFinder) for f in sys.meta_path)


def test_compiled_code_is_cached_by_source_hash(
    sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sys, "dont_write_bytecode", False)
    path = sandbox.write("flows", FLOWS)
    sandbox.load("flows")
    pyc = importlib.util.cache_from_source(str(path), optimization="wdkclient")
    assert Path(pyc).is_file()

    # Memory cleared: the disk cache serves the same source without compiling.
    from wdk.compiler import api

    def refuse(*args: object, **kwargs: object) -> str:
        raise AssertionError("compiled again")

    monkeypatch.setattr(api, "compile_source", refuse)
    monkeypatch.setattr(hook, "_memory", {})
    sandbox.forget()
    assert sandbox.load("flows").__wdk_mode__ == "client"

    # A changed source is compiled again.
    sandbox.forget()
    path.write_text(FLOWS + "\n# changed\n")
    with pytest.raises(AssertionError, match="compiled again"):
        sandbox.load("flows")


def test_hook_under_pytest_keeps_assertion_rewriting(tmp_path: Path) -> None:
    (tmp_path / "pytest.ini").write_text(
        "[pytest]\nasyncio_default_fixture_loop_scope = function\n"
    )
    (tmp_path / "conftest.py").write_text(
        "import wdk.compiler\nwdk.compiler.install_import_hook()\n"
    )
    (tmp_path / "shop_flows.py").write_text(FLOWS)
    (tmp_path / "test_sample.py").write_text(
        "import asyncio, pytest, shop_flows\n"
        "from wdk import WorkflowCalledDirectly\n"
        "def test_client_mode():\n"
        "    with pytest.raises(WorkflowCalledDirectly):\n"
        "        asyncio.run(shop_flows.doubling(1))\n"
        "def test_rewritten():\n"
        "    values = [1, 2]\n"
        "    assert values == [1, 3]\n"
    )
    # The checkout's wdk comes first, whatever is installed in the environment.
    repo = str(Path(hook.__file__).resolve().parents[2])
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [repo, os.environ.get("PYTHONPATH")])),
    }
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", str(tmp_path)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=50,
        check=False,
    )
    assert "1 failed, 1 passed" in proc.stdout, proc.stdout + proc.stderr
    # The rewritten assert explains the difference, which plain `assert` cannot.
    assert "At index 1 diff: 2 != 3" in proc.stdout
