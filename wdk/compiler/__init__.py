"""The wdk compiler: one source, three outputs (client, step, workflow).

    from wdk.compiler import compile_source
    code = compile_source(source, "shop.orders", "workflow")

Names are loaded on first use, so `import wdk` does not pay for libcst.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from wdk.compiler.api import (
        analyze_source,
        compile_source,
        has_directive,
        module_name_for_path,
    )
    from wdk.compiler.import_hook import install_import_hook, uninstall_import_hook
    from wdk.compiler.model import FunctionInfo, Mode, ModuleInfo, ParamInfo
    from wdk.errors import CompileError, Diagnostic

_HOMES = {
    "analyze_source": "wdk.compiler.api",
    "compile_source": "wdk.compiler.api",
    "has_directive": "wdk.compiler.api",
    "module_name_for_path": "wdk.compiler.api",
    "install_import_hook": "wdk.compiler.import_hook",
    "uninstall_import_hook": "wdk.compiler.import_hook",
    "FunctionInfo": "wdk.compiler.model",
    "Mode": "wdk.compiler.model",
    "ModuleInfo": "wdk.compiler.model",
    "ParamInfo": "wdk.compiler.model",
    "CompileError": "wdk.errors",
    "Diagnostic": "wdk.errors",
}

__all__ = [
    "CompileError",
    "Diagnostic",
    "FunctionInfo",
    "Mode",
    "ModuleInfo",
    "ParamInfo",
    "analyze_source",
    "compile_source",
    "has_directive",
    "install_import_hook",
    "module_name_for_path",
    "uninstall_import_hook",
]


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'wdk.compiler' has no attribute {name!r}")
    value = getattr(importlib.import_module(home), name)
    globals()[name] = value
    return value
