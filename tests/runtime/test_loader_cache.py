"""The loader reads and analyses a workflow's source once, not on every start():
again only when the file changed."""

from __future__ import annotations

import importlib
import os
import sys
import textwrap
import uuid
from pathlib import Path
from typing import Any

import pytest

from wdk.runtime import loader as loader_mod
from wdk.runtime.loader import Loader

FLOW = textwrap.dedent(
    '''
    async def twice(x: int) -> int:
        "use step"
        return 2 * x


    async def flow(x: int) -> int:
        "use workflow"
        return await twice(x)
    '''
)


@pytest.fixture
def flow_module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Any, Path]:
    name = f"cache_flows_{uuid.uuid4().hex[:8]}"
    path = tmp_path / f"{name}.py"
    path.write_text(FLOW)
    monkeypatch.syspath_prepend(str(tmp_path))
    return importlib.import_module(name), path


def _counting(monkeypatch: pytest.MonkeyPatch) -> dict[str, int]:
    counts = {"read": 0, "analyze": 0}
    real_read, real_analyze = loader_mod._read, loader_mod.analyze_source

    def read(path: str) -> str:
        counts["read"] += 1
        return real_read(path)

    def analyze(*args: Any, **kwargs: Any) -> Any:
        counts["analyze"] += 1
        return real_analyze(*args, **kwargs)

    monkeypatch.setattr(loader_mod, "_read", read)
    monkeypatch.setattr(loader_mod, "analyze_source", analyze)
    return counts


def _start_like(loader: Loader, fn: Any) -> str:
    """What start() asks of the loader: the id, then the sandboxed function."""
    workflow_id = loader.workflow_id_of(fn)
    loader.workflow_function(workflow_id)
    return workflow_id


def test_unchanged_source_is_read_and_analysed_once(
    flow_module: tuple[Any, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    module, _ = flow_module
    counts = _counting(monkeypatch)
    loader = Loader()
    first = _start_like(loader, module.flow)
    after_first = dict(counts)
    assert after_first["read"] >= 1 and after_first["analyze"] == 1
    for _ in range(5):
        assert _start_like(loader, module.flow) == first
    assert counts == after_first


def test_a_changed_file_is_read_again(flow_module: tuple[Any, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    module, path = flow_module
    counts = _counting(monkeypatch)
    loader = Loader()
    _start_like(loader, module.flow)
    reads = counts["read"]
    # Same size, same mtime: only the inode / ctime tell (an editor's rewrite).
    st = os.stat(path)
    path.write_text(FLOW.replace("2 * x", "3 * x"))
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    source, _ = loader._sources.read(str(path))
    assert "3 * x" in source
    assert counts["read"] == reads + 1


# --- step functions: found once per step id, while the module still binds them ---------


def test_a_step_function_is_looked_up_once(flow_module: tuple[Any, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    module, _ = flow_module
    loader = Loader()
    step_id = f"step//{module.__name__}//twice"
    first = loader.step_function(step_id)
    assert first is module.twice
    lookups = []
    monkeypatch.setattr(loader_mod, "_lookup", lambda *a, **k: lookups.append(a) or None)
    assert loader.step_function(step_id) is first
    assert lookups == []


def test_a_rebound_step_function_is_found_again(flow_module: tuple[Any, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    module, _ = flow_module
    loader = Loader()
    step_id = f"step//{module.__name__}//twice"
    assert loader.step_function(step_id) is module.twice

    async def thrice(x: int) -> int:
        return 3 * x

    monkeypatch.setattr(module, "twice", thrice)  # a test's patch, a hot reload of one name
    assert loader.step_function(step_id) is thrice
    monkeypatch.delattr(module, "twice")
    with pytest.raises(loader_mod.WorkflowNotFound):
        loader.step_function(step_id)


def test_a_step_of_a_reimported_module_is_the_new_modules(
    flow_module: tuple[Any, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    module, path = flow_module
    loader = Loader()
    step_id = f"step//{module.__name__}//twice"
    assert loader.step_function(step_id) is module.twice
    path.write_text(FLOW.replace("2 * x", "5 * x"))
    monkeypatch.delitem(sys.modules, module.__name__)
    importlib.invalidate_caches()
    fresh = loader.step_function(step_id)
    assert fresh is not module.twice and fresh is sys.modules[module.__name__].twice


# --- workflow functions: found once per id, while the module and its file are unchanged ---


def _sandbox_loads(loader: Loader, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    loads: list[str] = []
    real = loader.sandbox.load

    def load(module: str, source: str, filename: str) -> dict[str, Any]:
        loads.append(module)
        return real(module, source, filename)

    monkeypatch.setattr(loader.sandbox, "load", load)
    return loads


def _looked_up(module: Any) -> tuple[Loader, str, Any]:
    """A new loader that has looked `module.flow` up once: (loader, its id, the function)."""
    loader = Loader()
    workflow_id = loader.workflow_id_of(module.flow)
    return loader, workflow_id, loader.workflow_function(workflow_id)


def test_a_workflow_function_is_looked_up_once(flow_module: tuple[Any, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    module, _ = flow_module
    loader, workflow_id, first = _looked_up(module)
    loads = _sandbox_loads(loader, monkeypatch)
    assert loader.workflow_function(workflow_id) is first
    assert loads == []


def test_a_workflow_of_a_changed_file_is_loaded_again(
    flow_module: tuple[Any, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    module, path = flow_module
    loader, workflow_id, first = _looked_up(module)
    st = os.stat(path)
    path.write_text(FLOW.replace("twice(x)", "twice(x + 1)"))
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    loads = _sandbox_loads(loader, monkeypatch)
    again = loader.workflow_function(workflow_id)
    assert again is not first and loads == [module.__name__]
    assert "x + 1" in loader._sources.read(str(path))[0]


def test_a_workflow_of_a_reimported_module_is_loaded_again(
    flow_module: tuple[Any, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    module, _ = flow_module
    loader, workflow_id, _ = _looked_up(module)
    monkeypatch.delitem(sys.modules, module.__name__)
    loads = _sandbox_loads(loader, monkeypatch)
    loader.workflow_function(workflow_id)
    assert loads == [module.__name__]
    assert module.__name__ in sys.modules  # imported again on the way


# --- a start looks at its workflow's file once (session 8) ------------------------------------


def test_a_start_looks_at_its_workflow_file_once(flow_module: tuple[Any, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    from wdk.runtime import runs

    module, path = flow_module
    loader = Loader()
    runs.prepare_run(loader, module.flow, (1,), {})  # first load: compiles, reads what it needs
    stats: list[str] = []
    real_stat = os.stat

    def stat(p: Any, *args: Any, **kwargs: Any) -> os.stat_result:
        stats.append(str(p))
        return real_stat(p, *args, **kwargs)

    monkeypatch.setattr(loader_mod.os, "stat", stat)
    new, _ = runs.prepare_run(loader, module.flow, (1,), {})
    assert stats == [str(path)]  # the id, the function and the code version from one look
    assert new.workflow_id == loader.workflow_id_of(module.flow)
    assert new.payload["code_version"] == loader.code_version(new.workflow_id)
    assert loader._sources.held is None  # released: the next start looks again
    stats.clear()
    runs.prepare_run(loader, module.flow, (1,), {})
    assert stats == [str(path)]


def test_the_code_version_follows_a_changed_file(flow_module: tuple[Any, Path]) -> None:
    from wdk.runtime import runs

    module, path = flow_module
    loader = Loader()
    before, _ = runs.prepare_run(loader, module.flow, (1,), {})
    path.write_text(FLOW.replace("2 * x", "3 * x"))
    after, _ = runs.prepare_run(loader, module.flow, (1,), {})
    assert before.payload["code_version"] != after.payload["code_version"]
    assert after.payload["code_version"] == loader.code_version(after.workflow_id)
