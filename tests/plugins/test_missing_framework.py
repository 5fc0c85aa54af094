"""A plugin whose framework is not installed says which extra to install."""

from __future__ import annotations

import importlib
import sys

import pytest


@pytest.mark.parametrize(
    ("plugin", "framework", "extra"),
    [("starlette", "starlette", "fastapi"), ("flask", "flask", "flask"), ("django", "django", "django")],
)
def test_a_missing_framework_names_the_extra(
    plugin: str, framework: str, extra: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in [framework, *(m for m in sys.modules if m.startswith(framework + "."))]:
        monkeypatch.setitem(sys.modules, name, None)  # `import framework...` fails
    monkeypatch.delitem(sys.modules, f"wdk.plugins.{plugin}", raising=False)
    with pytest.raises(ImportError, match=rf"pip install 'wdk\[{extra}\]'"):
        importlib.import_module(f"wdk.plugins.{plugin}")


def test_importing_wdk_imports_no_framework() -> None:
    import subprocess

    code = "import wdk, wdk.api, sys; print(sorted(m for m in sys.modules if m in ('flask', 'django', 'starlette')))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
