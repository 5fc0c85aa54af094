"""The wdk compiler: one source, three outputs (client, step, workflow).

    from wdk.compiler import compile_source
    code = compile_source(source, "shop.orders", "workflow")
"""

from wdk.compiler.api import (
    analyze_source,
    compile_source,
    has_directive,
    module_name_for_path,
)
from wdk.compiler.hook import install_import_hook
from wdk.compiler.model import FunctionInfo, Mode, ModuleInfo, ParamInfo
from wdk.errors import CompileError, Diagnostic

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
]
