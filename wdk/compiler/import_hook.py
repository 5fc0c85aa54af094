"""Client mode at import time: a `sys.meta_path` finder for directive modules.

    import wdk.compiler
    wdk.compiler.install_import_hook()
    import shop.orders          # compiled in client mode if it has a directive

The finder sits just before the standard `PathFinder`, after any finder that
was there first (pytest's assertion rewriter keeps test files). It asks the
finders behind it for the module; when that is a plain `.py` source outside
the standard library and site-packages whose text passes the cheap
`has_directive` check, it swaps in a loader that compiles the client-mode
source with the real file name, so `__file__`, tracebacks and line numbers
stay the user's. Every other module is left alone. Compiled code is cached
by source hash in memory and in `__pycache__` (`*.opt-wdkclient.pyc`).
"""

from __future__ import annotations

import hashlib
import importlib.machinery
import importlib.util
import marshal
import os
import sys
import sysconfig
import threading
from collections.abc import Sequence
from functools import cache
from importlib.abc import MetaPathFinder
from importlib.machinery import ModuleSpec, SourceFileLoader
from pathlib import Path
from types import CodeType, ModuleType

__all__ = [
    "WdkFinder",
    "WdkLoader",
    "client_code",
    "compiler_fingerprint",
    "install_import_hook",
    "uninstall_import_hook",
]

_PYC_MAGIC = b"WDKC1\n"
_PYC_TAG = "wdkclient"  # the `opt-` tag of our cache files: never loaded by Python itself
_memory: dict[str, CodeType] = {}
_lock = threading.Lock()
_busy = threading.local()


@cache
def compiler_fingerprint() -> str:
    """Changes whenever the compiler's source changes, so caches of its output
    made by another compiler are never used."""
    here = Path(__file__).parent
    stats = sorted((p.name, p.stat().st_size, p.stat().st_mtime_ns) for p in here.glob("*.py"))
    return hashlib.sha256(repr((sys.version, stats)).encode()).hexdigest()


@cache
def _foreign_roots() -> tuple[str, ...]:
    """Folders whose modules are never the user's: stdlib and site-packages."""
    paths = sysconfig.get_paths()
    roots: set[str] = set()
    for key in ("stdlib", "platstdlib", "purelib", "platlib"):
        if key in paths:
            roots.add(os.path.normcase(paths[key]))
            roots.add(os.path.normcase(os.path.realpath(paths[key])))
    return tuple(root.rstrip(os.sep) + os.sep for root in roots)


def _is_foreign(origin: str) -> bool:
    path = os.path.normcase(origin)
    if f"{os.sep}site-packages{os.sep}" in path or f"{os.sep}dist-packages{os.sep}" in path:
        return True
    return path.startswith(_foreign_roots())


def _cache_path(path: str) -> str | None:
    try:
        return importlib.util.cache_from_source(path, optimization=_PYC_TAG)
    except (NotImplementedError, ValueError):
        return None


def _read_disk(path: str, key: str) -> CodeType | None:
    pyc = _cache_path(path)
    if pyc is None:
        return None
    try:
        with open(pyc, "rb") as f:
            data = f.read()
    except OSError:
        return None
    head = _PYC_MAGIC + key.encode()
    if not data.startswith(head):
        return None
    try:
        code = marshal.loads(data[len(head) :])
    except (EOFError, ValueError, TypeError):
        return None
    return code if isinstance(code, CodeType) else None


def _write_disk(path: str, key: str, code: CodeType) -> None:
    pyc = _cache_path(path)
    if pyc is None or sys.dont_write_bytecode:
        return
    tmp = f"{pyc}.{os.getpid()}.tmp"
    try:
        os.makedirs(os.path.dirname(pyc), exist_ok=True)
        with open(tmp, "wb") as f:
            f.write(_PYC_MAGIC + key.encode() + marshal.dumps(code))
        os.replace(tmp, pyc)
    except OSError:  # a read-only tree still imports, just without the disk cache
        try:
            os.unlink(tmp)
        except OSError:
            pass


def client_code(data: bytes, fullname: str, path: str) -> CodeType:
    """The client-mode code object of a module's source bytes (cached by hash).
    Raises `CompileError` for invalid directive code."""
    key = hashlib.sha256(
        b"\0".join((data, fullname.encode(), path.encode(), compiler_fingerprint().encode()))
    ).hexdigest()
    with _lock:
        code = _memory.get(key)
    if code is not None:
        return code
    code = _read_disk(path, key)
    if code is None:
        from wdk.compiler.api import compile_source

        source = importlib.util.decode_source(data)
        compiled = compile_source(source, fullname, "client", path=path)
        # The real file name keeps tracebacks and line numbers the user's.
        code = compile(compiled, path, "exec", dont_inherit=True)
        _write_disk(path, key, code)
    with _lock:
        _memory[key] = code
    return code


class WdkLoader(SourceFileLoader):
    """A source loader that runs the client-mode compilation of the file."""

    def __init__(self, fullname: str, path: str, data: bytes | None = None) -> None:
        super().__init__(fullname, path)
        self._data = data

    def get_code(self, fullname: str) -> CodeType:
        # Never the regular __pycache__ bytecode: that is the uncompiled source.
        data, self._data = self._data, None  # a reload reads the file afresh
        if data is None:
            data = self.get_data(self.path)
        return client_code(data, fullname, self.path)


class WdkFinder(MetaPathFinder):
    """Finds directive modules through the finders behind it and hands them to `WdkLoader`."""

    def find_spec(
        self,
        fullname: str,
        path: Sequence[str] | None,
        target: ModuleType | None = None,
    ) -> ModuleSpec | None:
        top = fullname.partition(".")[0]
        if top in sys.stdlib_module_names or top == "wdk" or getattr(_busy, "on", False):
            return None
        _busy.on = True  # imports made while we look (the compiler's own) are not ours
        try:
            return self._find(fullname, path, target)
        finally:
            _busy.on = False

    def _find(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None
    ) -> ModuleSpec | None:
        spec = self._find_behind(fullname, path, target)
        if spec is None or type(spec.loader) is not SourceFileLoader:
            return None
        origin = spec.origin
        if not origin or not origin.endswith(".py") or _is_foreign(origin):
            return None
        try:
            data = spec.loader.get_data(origin)
            text = importlib.util.decode_source(data)
        except (OSError, SyntaxError, UnicodeDecodeError):
            return None  # let the normal import report it
        from wdk.compiler.api import has_directive

        if not has_directive(text):
            return None
        spec.loader = WdkLoader(fullname, origin, data)
        spec.cached = None  # the regular .pyc is not what this module runs
        return spec

    def _find_behind(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None
    ) -> ModuleSpec | None:
        finders = list(sys.meta_path)
        start = finders.index(self) + 1 if self in finders else 0
        for finder in finders[start:]:
            find = getattr(finder, "find_spec", None)
            if find is None or isinstance(finder, WdkFinder):
                continue
            spec: ModuleSpec | None = find(fullname, path, target)
            if spec is not None:
                return spec
        return None


def install_import_hook() -> None:
    """Compile directive modules in client mode when they are imported.
    Idempotent; modules imported before the call are not recompiled."""
    if any(isinstance(f, WdkFinder) for f in sys.meta_path):
        return
    position = len(sys.meta_path)
    for i, finder in enumerate(sys.meta_path):
        if finder is importlib.machinery.PathFinder:
            position = i
            break
    sys.meta_path.insert(position, WdkFinder())


def uninstall_import_hook() -> None:
    """Remove the hook; modules it already compiled stay as they are."""
    sys.meta_path[:] = [f for f in sys.meta_path if not isinstance(f, WdkFinder)]
