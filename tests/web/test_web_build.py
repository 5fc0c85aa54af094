"""The committed app.js is a fresh build of wdk/web/ui/*.jsx (no drift)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _build_ui() -> ModuleType:
    spec = importlib.util.spec_from_file_location("build_ui", ROOT / "scripts" / "build_ui.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("build_ui", module)
    spec.loader.exec_module(module)
    return module


def test_app_js_matches_its_sources() -> None:
    build_ui = _build_ui()
    try:
        transform = build_ui.load_transform()
    except ImportError:
        pytest.skip("esbuild-py is not installed (pip install -e '.[dev]')")
    fresh = build_ui.build(transform)
    committed = build_ui.OUTPUT.read_text(encoding="utf-8")
    assert committed == fresh, "wdk/web/static/app.js is stale: run python scripts/build_ui.py"


def test_every_source_is_built() -> None:
    build_ui = _build_ui()
    on_disk = {p.name for p in build_ui.UI.glob("*.jsx")}
    assert on_disk == set(build_ui.SOURCES)


def test_a_syntax_error_is_reported() -> None:
    build_ui = _build_ui()
    with pytest.raises(build_ui.BuildError, match="could not transform"):
        build_ui.build(lambda source: "")
