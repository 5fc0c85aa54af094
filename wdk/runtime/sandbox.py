"""The sandbox that workflow-mode modules run in.

A workflow-mode module is executed with restricted builtins (no `open`,
`eval`, ...) and an import guard as `__import__`. What an import gives:

* pure stdlib modules, `wdk`, `msgspec`, `typing_extensions` and the
  passthrough list: the real module;
* `random`, `time`, `datetime`, `uuid`, `secrets`: deterministic stand-ins;
  `os`, `sys`, `io`, `pathlib`: a few pure names (see sandbox_modules.py);
* the user's own modules: sandboxed too when they have directives (through
  `compile_module`), the real module when they have none;
* anything else (other stdlib, third-party): a `RestrictedProxy`, so that a
  module whose steps use `httpx` still loads, but a workflow that uses it
  gets a `WorkflowSandboxError` naming `httpx.get`.

The sandbox keeps workflows deterministic; it is not a security boundary.
See docs/sandbox.md.
"""

from __future__ import annotations

import builtins
import importlib
import importlib.util
import os
import sys
import types
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal, NoReturn

from wdk.errors import WorkflowSandboxError
from wdk.runtime import callsite, sandbox_modules
from wdk.runtime.loop import WorkflowLoop
from wdk.runtime.sandbox_modules import (
    DETERMINISTIC,
    PartialModule,
    RestrictedProxy,
    standin_modules,
)
from wdk.settings import current_settings

__all__ = ["PURE_MODULES", "PURE_PACKAGES", "Sandbox"]

CompileModule = Callable[[str], "tuple[str, str] | None"]


# Real modules that workflow code may use as they are: no I/O, no threads, no
# clock, no entropy. Exact names...
PURE_MODULES = frozenset(
    """
    __future__ abc array ast base64 binascii bisect calendar cmath colorsys contextlib
    contextvars copy copyreg csv dataclasses decimal difflib enum errno fnmatch fractions
    functools graphlib hashlib heapq hmac inspect ipaddress itertools keyword logging math
    numbers operator pprint reprlib shlex stat statistics string struct textwrap token
    traceback types typing unicodedata urllib.parse warnings weakref zlib
    _collections_abc _operator _functools _weakref
    """.split()
)
# ...and packages admitted with every submodule.
PURE_PACKAGES = ("asyncio", "collections", "json", "re", "html", "encodings", "zoneinfo")
ALWAYS_REAL = ("wdk", "msgspec", "typing_extensions")

_REMOVED_BUILTINS = {
    "open": "it does I/O",
    "input": "it reads from the terminal",
    "exec": "it runs code the sandbox cannot check",
    "eval": "it runs code the sandbox cannot check",
    "compile": "it builds code the sandbox cannot check",
    "breakpoint": "it stops the process for a debugger",
    "exit": "it stops the process",
    "quit": "it stops the process",
    "help": "it is interactive",
}

_MISSING = object()


def _removed_builtin(name: str, reason: str) -> Callable[..., NoReturn]:
    def refuse(*args: Any, **kwargs: Any) -> NoReturn:
        raise callsite.refused(f"{name}()", f'{reason}. Move it into a "use step" function.')

    refuse.__name__ = refuse.__qualname__ = name
    return refuse


def _under(name: str, prefixes: Iterable[str]) -> bool:
    return any(name == p or name.startswith(p + ".") for p in prefixes)


def _is_third_party(top: str) -> bool:
    """True for an installed distribution; raises ModuleNotFoundError if there is none."""
    try:
        spec = importlib.util.find_spec(top)
    except ValueError:  # e.g. __main__ without a spec: the user's own script
        return False
    if spec is None:
        raise ModuleNotFoundError(f"No module named {top!r}", name=top)
    location = spec.origin or next(iter(spec.submodule_search_locations or ()), "")
    parts = Path(location).parts
    return "site-packages" in parts or "dist-packages" in parts


class ModuleView(types.ModuleType):
    """A module with some submodule attributes replaced by their sandboxed versions.

    `import app.flows` binds `app`; when `app` itself passes through as the real
    package, `app.flows` must still reach the sandboxed module."""

    def __init__(self, base: types.ModuleType, overlay: Mapping[str, Any]) -> None:
        super().__init__(base.__name__, base.__doc__)
        self.__dict__["__wdk_base__"] = base
        self.__dict__.update(overlay)

    def __getattr__(self, attr: str) -> Any:
        return getattr(self.__dict__["__wdk_base__"], attr)


class Sandbox:
    """Loads workflow-mode modules with restricted builtins and an import guard.

    >>> sandbox = Sandbox(passthrough=["pydantic"], compile_module=compile_workflow_mode)
    >>> namespace = sandbox.load("app.flows", workflow_source, "/src/app/flows.py")
    """

    def __init__(
        self,
        *,
        passthrough: Iterable[str] = (),
        compile_module: CompileModule | None = None,
    ) -> None:
        names = [*passthrough, *current_settings().sandbox_passthrough]
        self.passthrough: tuple[str, ...] = tuple(
            dict.fromkeys(n.strip() for n in names if n.strip())
        )
        self._compile_module = compile_module
        self._standins = {
            name: module
            for name, module in standin_modules().items()
            if name in DETERMINISTIC or not _under(name, self.passthrough)
        }
        self.builtins: dict[str, Any] = dict(builtins.__dict__)
        for name, reason in _REMOVED_BUILTINS.items():
            self.builtins[name] = _removed_builtin(name, reason)
        self.builtins["__import__"] = self._import
        self._standins["builtins"] = self._module("builtins", self.builtins)
        self._standins["importlib"] = self._importlib_module()
        self._loaded: dict[tuple[str, str], types.ModuleType] = {}
        self._resolved: dict[str, Any] = {}
        self._imports: dict[tuple[str, tuple[str, ...]], Any] = {}
        self._kinds: dict[str, _Kind] = {}  # module name -> what its code is, for timers

    # --- loading ------------------------------------------------------------------

    def load(self, module_name: str, source: str, filename: str) -> dict[str, Any]:
        """Execute workflow-mode `source` as `module_name`; returns its namespace.

        Cached by (module name, source): the same source loads once."""
        return self._load(module_name, source, filename).__dict__

    def _load(self, module_name: str, source: str, filename: str) -> types.ModuleType:
        # Keyed by the text itself: its hash is computed once per str object
        # and equality makes a collision impossible.
        key = (module_name, source)
        module = self._loaded.get(key)
        if module is not None:
            return module
        module = types.ModuleType(module_name)
        namespace = module.__dict__
        is_package = os.path.basename(filename) == "__init__.py"
        namespace.update(
            __file__=filename,
            __builtins__=self.builtins,
            __package__=module_name if is_package else module_name.rpartition(".")[0],
            __wdk_sandboxed__=True,
        )
        if is_package:
            namespace["__path__"] = [os.path.dirname(filename)]
        code = compile(source, filename, "exec", dont_inherit=True)
        # Registered before running, so that a circular import sees the partly
        # initialised module, as it would with sys.modules.
        previous = self._resolved.get(module_name, _MISSING)
        self._loaded[key] = module
        self._resolved[module_name] = module
        sandbox_modules.loading += 1
        try:
            exec(code, namespace)
        except BaseException:
            del self._loaded[key]
            if previous is _MISSING:
                self._resolved.pop(module_name, None)
            else:
                self._resolved[module_name] = previous
            raise
        finally:
            sandbox_modules.loading -= 1
        _share_classes(namespace, module_name)
        return module

    # --- the import guard -------------------------------------------------------------

    def _import(
        self,
        name: str,
        globals: Mapping[str, Any] | None = None,
        locals: Mapping[str, Any] | None = None,
        fromlist: Sequence[str] | None = (),
        level: int = 0,
    ) -> Any:
        if type(fromlist) is list and not fromlist and not level:
            # C code importing for itself (PyImport_Import, e.g. time.strptime
            # loading _strptime) calls the current frame's __import__ with an
            # empty list and then reads sys.modules: give it the real module.
            return importlib.import_module(name)
        if level:
            name = self._absolute(name, globals or {}, level)
        elif not name:
            raise ValueError("Empty module name")
        key = (name, tuple(fromlist or ()))
        found = self._imports.get(key, _MISSING)
        if found is _MISSING:
            found = self._import_uncached(name, key[1])
            self._imports[key] = found
        return found

    def _import_uncached(self, name: str, fromlist: tuple[str, ...]) -> Any:
        target = self.resolve(name)
        if fromlist:
            return self._with_submodules(name, target, fromlist)
        if "." not in name:
            return target
        # `import a.b.c` binds `a`: walk up so that `a.b.c` is `target`.
        parts = name.split(".")
        obj = target
        for i in range(len(parts) - 1, 0, -1):
            parent = self.resolve(".".join(parts[:i]))
            if isinstance(parent, RestrictedProxy):
                return self.resolve(parts[0])
            if getattr(parent, parts[i], None) is not obj:
                parent = ModuleView(parent, {parts[i]: obj})
            obj = parent
        return obj

    def _with_submodules(self, name: str, module: Any, fromlist: tuple[str, ...]) -> Any:
        """`from pkg import sub`: `sub` must be the sandboxed submodule when it has one."""
        is_package = isinstance(module, types.ModuleType) and hasattr(module, "__path__")
        if not is_package or isinstance(module, PartialModule):
            return module
        overlay: dict[str, Any] = {}
        for item in fromlist:
            current = getattr(module, item, _MISSING) if item != "*" else None
            if current is _MISSING or isinstance(current, types.ModuleType):
                try:
                    sub = self.resolve(f"{name}.{item}")
                except ImportError:
                    continue  # not a submodule: IMPORT_FROM reports it
                if sub is not current:
                    overlay[item] = sub
        return ModuleView(module, overlay) if overlay else module

    @staticmethod
    def _absolute(name: str, globals: Mapping[str, Any], level: int) -> str:
        package = globals.get("__package__")
        if package is None:
            module_name = str(globals.get("__name__", ""))
            package = module_name if "__path__" in globals else module_name.rpartition(".")[0]
        if not package:
            raise ImportError("attempted relative import with no known parent package")
        return importlib.util.resolve_name("." * level + name, package)

    def resolve(self, name: str) -> Any:
        """What workflow code gets for the absolute module name `name`."""
        found = self._resolved.get(name, _MISSING)
        if found is _MISSING:
            found = self._resolve_uncached(name)
            self._resolved[name] = found
        return found

    def _resolve_uncached(self, name: str) -> Any:
        standin = self._standins.get(name)
        if standin is not None:
            return standin
        if name in PURE_MODULES or _under(name, PURE_PACKAGES) or _under(name, ALWAYS_REAL):
            return importlib.import_module(name)
        if _under(name, self.passthrough):
            return importlib.import_module(name)
        top = name.partition(".")[0]
        if top in sys.stdlib_module_names or top in sys.builtin_module_names:
            return RestrictedProxy(name, None if top in DETERMINISTIC else top)
        if _is_third_party(top):
            return RestrictedProxy(name, top)
        compiled = self._compile_module(name) if self._compile_module is not None else None
        if compiled is None:
            return importlib.import_module(name)  # the user's module without directives
        source, filename = compiled
        return self._load(name, source, filename)

    # --- timers ------------------------------------------------------------------------------

    def check_timer(self, frame: types.FrameType | None) -> None:
        """Refuse a timer set by a library that workflow code may not use.

        Every timer a workflow sets becomes a durable wait in the log. A helper
        module without directives imports its libraries for real, so a
        workflow that calls it can reach, say, aiohttp, whose request timeouts
        are timers: those are not the workflow's waits, and are refused here,
        before anything is recorded (the I/O that follows would be refused
        anyway). Who set the timer is the innermost frame, from `frame`
        outwards, that is not asyncio, wdk or pure stdlib code; frames outside
        the workflow loop are not looked at."""
        culprit: str | None = None
        while frame is not None and frame.f_code is not _LOOP_ENTRY:
            kind = self._frame_kind(frame)
            if kind == _USER:
                if culprit is not None:
                    raise _timer_refused(culprit, frame)
                return
            if kind == _REFUSED and culprit is None:
                culprit = str(frame.f_globals.get("__name__"))
            frame = frame.f_back
        if culprit is not None:
            raise _timer_refused(culprit, None)

    def _frame_kind(self, frame: types.FrameType) -> _Kind:
        namespace = frame.f_globals
        name = namespace.get("__name__")
        if namespace.get("__wdk_sandboxed__") or not isinstance(name, str):
            return _USER
        kind = self._kinds.get(name)
        if kind is None:
            kind = self._kinds[name] = self._module_kind(name)
        return kind

    def _module_kind(self, name: str) -> _Kind:
        if name in PURE_MODULES or _under(name, PURE_PACKAGES) or _under(name, ALWAYS_REAL):
            return _PLUMBING
        if _under(name, self.passthrough):
            return _USER
        top = name.partition(".")[0]
        if top in sys.stdlib_module_names or top in sys.builtin_module_names:
            return _REFUSED
        try:
            return _REFUSED if _is_third_party(top) else _USER
        except ModuleNotFoundError:  # made at run time, without a spec: the user's
            return _USER

    # --- stand-ins that need this sandbox ------------------------------------------------------

    @staticmethod
    def _module(name: str, namespace: Mapping[str, Any]) -> types.ModuleType:
        module = types.ModuleType(name)
        module.__dict__.update(namespace)
        module.__name__ = name
        return module

    def _importlib_module(self) -> PartialModule:
        def import_module(name: str, package: str | None = None) -> Any:
            if name.startswith("."):
                if not package:
                    raise TypeError(f"the 'package' argument is required for {name!r}")
                name = importlib.util.resolve_name(name, package)
            return self.resolve(name)

        return PartialModule(importlib, (), {"import_module": import_module})


# What the code in a frame is, for `check_timer`: the workflow's own (its
# modules, the user's helpers, the passthrough list), plumbing between it and
# the loop (asyncio, wdk, pure stdlib), or a module the sandbox refuses.
_Kind = Literal["user", "plumbing", "refused"]
_USER: _Kind = "user"
_PLUMBING: _Kind = "plumbing"
_REFUSED: _Kind = "refused"
# Where the workflow loop runs workflow code: frames further out are not the workflow's.
_LOOP_ENTRY = WorkflowLoop.run_until_quiescent.__code__


def _timer_refused(module: str, user_frame: types.FrameType | None) -> WorkflowSandboxError:
    top = module.partition(".")[0]
    where = ""
    if user_frame is not None:
        code = user_frame.f_code
        where = f", called from {code.co_qualname} ({code.co_filename}:{user_frame.f_lineno})"
    return WorkflowSandboxError(
        f"{module} set a timer in a workflow{where}: {top} is not allowed in workflow code, "
        f'so its timers cannot be durable waits. Move the code that uses {top} into a "use step" function.'
    )


def _share_classes(namespace: dict[str, Any], module_name: str) -> None:
    """Use the real module's classes in place of the sandbox's copies.

    Data crosses between the workflow and its steps as dataclasses, enums and
    structs; if the workflow had its own copy of each class, values built on
    one side would not be instances of the other side's class (and could not
    be serialized by reference). Functions stay sandboxed; classes are shared.
    """
    real = sys.modules.get(module_name)
    if real is None:
        return
    for name, obj in list(namespace.items()):
        if isinstance(obj, type) and obj.__module__ == module_name:
            twin = getattr(real, name, None)
            if isinstance(twin, type) and twin.__qualname__ == obj.__qualname__:
                namespace[name] = twin
