"""Finding the code behind an id.

A workflow runs from its module's source compiled in workflow mode and loaded
in the sandbox; a step runs as the user's real function from the real module
(so it shares the application's module state: clients, pools, settings).
No build step and no import hook are needed: ids map to files.
"""

from __future__ import annotations

import functools
import hashlib
import importlib
import importlib.util
import inspect
import json
import os
import sys
import types
from collections.abc import Callable
from pathlib import Path
from typing import Any

from wdk.compiler import analyze_source, compile_source, has_directive, module_name_for_path
from wdk.compiler.model import ModuleInfo
from wdk.errors import WdkError, WorkflowNotFound
from wdk.runtime import methods
from wdk.runtime.sandbox import Sandbox

BUILD_MANIFEST = "manifest.json"  # what marks the output folder of `wdk build`


def split_id(fn_id: str) -> tuple[str, str, str]:
    """"workflow//shop.orders//checkout" -> ("workflow", "shop.orders", "checkout")."""
    parts = fn_id.split("//")
    if len(parts) != 3 or parts[0] not in ("workflow", "step") or not parts[1] or not parts[2]:
        raise WorkflowNotFound(
            f"{fn_id!r} is not a wdk id (expected 'workflow//<module>//<qualname>' or 'step//...')"
        )
    return parts[0], parts[1], parts[2]


def built_workflow_file(path: str) -> str | None:
    """For a module imported from the client or step tree of `wdk build`, the
    workflow-mode file the build wrote for it; None for ordinary source."""
    return _built_workflow_file(os.path.abspath(path))


@functools.lru_cache(maxsize=1024)
def _built_workflow_file(path: str) -> str | None:
    parts = Path(path).parts
    for i in range(len(parts) - 2, 0, -1):
        if parts[i] in ("client", "step"):
            root = Path(*parts[:i])
            if (root / BUILD_MANIFEST).is_file():
                return str(root / "workflow" / Path(*parts[i + 1 :]))
    return None


def _deployment_id(folder: str) -> str:
    """The deployment id in the manifest of the build tree above `folder`."""
    for parent in (Path(folder), *Path(folder).parents):
        manifest = parent / BUILD_MANIFEST
        if manifest.is_file():
            try:
                return "build:" + str(json.loads(manifest.read_text()).get("deployment_id", ""))
            except (OSError, ValueError):
                break
    return "build:unknown"


def _read(path: str) -> str:
    with open(path, encoding="utf-8") as f:
        return f.read()


class _SourceCache:
    """A module's source text, its hash and its analysis, read again only when
    the file changed: without it every `start()` re-read and re-analysed the
    workflow's file. A file counts as changed when its mtime, ctime, size or
    inode differ (an editor that rewrites a file changes at least one)."""

    def __init__(self) -> None:
        self._files: dict[str, tuple[tuple[int, int, int, int], str, str]] = {}
        self._analyses: dict[tuple[str, str], ModuleInfo] = {}
        # While held (`Loader.hold_sources`): what each file read gave, not
        # looked at again (a start asks three times for its workflow's file).
        self.held: dict[str, tuple[str, str]] | None = None

    def read(self, path: str) -> tuple[str, str]:
        """(source, sha256 hex) of `path`; OSError / UnicodeDecodeError as open() raises them."""
        held = self.held
        if held is not None:
            seen = held.get(path)
            if seen is not None:
                return seen
        st = os.stat(path)
        stamp = (st.st_mtime_ns, st.st_ctime_ns, st.st_size, st.st_ino)
        hit = self._files.get(path)
        if hit is not None and hit[0] == stamp:
            found = hit[1], hit[2]
        else:
            source = _read(path)
            found = source, hashlib.sha256(source.encode()).hexdigest()
            self._files[path] = (stamp, *found)
        if held is not None:
            held[path] = found
        return found

    def analysis(self, path: str, module: str) -> ModuleInfo:
        source, digest = self.read(path)
        key = (path, digest)
        info = self._analyses.get(key)
        if info is None:
            info = self._analyses[key] = analyze_source(source, module, path=path)
        return info


class Loader:
    """Resolves workflow and step ids. One per process (see `default_loader`)."""

    def __init__(self, sandbox: Sandbox | None = None) -> None:
        self.paths: dict[str, str] = {}  # module name -> source file
        self._workflow_code: dict[tuple[str, str], str] = {}  # (module, source hash) -> compiled
        self._step_ids: dict[types.CodeType, str | None] = {}  # step_id_of, for plain source
        self._sources = _SourceCache()
        self._ids: dict[tuple[str, str, str], str] = {}  # (path, qualname, source hash) -> workflow id
        # Module-level step functions found by step_function, with where they
        # were found: step id -> (module name, module, its namespace, attribute name, function).
        self._step_fns: dict[str, tuple[str, types.ModuleType, dict[str, Any], str, Callable[..., Any]]] = {}
        # Workflow functions found by workflow_function, with what they were
        # found from: workflow id -> (source file, its hash, module name, module, function).
        self._workflow_fns: dict[str, tuple[str, str, str, types.ModuleType, Callable[..., Any]]] = {}
        self.sandbox = sandbox or Sandbox(compile_module=self.compile_for_sandbox)
        self._source_paths: dict[str, str] = {}  # workflow id -> its module's file, not a build's (code_version)
        self._abspaths: dict[str, str] = {}  # os.path.abspath of absolute file names (`_abspath`)

    def hold_sources(self) -> bool:
        """Until `release_sources()`, each source file is looked at once (its
        stat and, if changed, its text): for code that does not await in
        between, where a file changing between two looks could as well have
        changed just after the one. False when already held (then release nothing)."""
        if self._sources.held is not None:
            return False
        self._sources.held = {}
        return True

    def release_sources(self) -> None:
        self._sources.held = None

    # --- modules --------------------------------------------------------------

    def module_path(self, module: str) -> str:
        path = self.paths.get(module)
        if path is not None:
            return path
        loaded = sys.modules.get(module)
        file = getattr(loaded, "__file__", None)
        if file is None:
            try:
                spec = importlib.util.find_spec(module)
            except (ImportError, ValueError) as exc:
                raise WorkflowNotFound(f"cannot find module {module!r}: {exc}") from exc
            file = spec.origin if spec is not None else None
        if not file or not file.endswith(".py"):
            raise WorkflowNotFound(
                f"cannot find the source of module {module!r} (is its folder on sys.path / PYTHONPATH?)"
            )
        self.paths[module] = file
        return file

    def workflow_source(self, module: str) -> tuple[str, str]:
        """(workflow-mode source, filename) of a user module."""
        path = self.module_path(module)
        built = built_workflow_file(path)
        if built is not None:
            try:
                return _read(built), built
            except (OSError, UnicodeDecodeError) as exc:
                raise WorkflowNotFound(
                    f"{path} comes from a `wdk build` tree, but its workflow-mode file {built} "
                    f"cannot be read ({exc}): rebuild"
                ) from exc
        try:
            source, digest = self._sources.read(path)
        except (OSError, UnicodeDecodeError) as exc:
            raise WorkflowNotFound(f"cannot read {path}: {exc}") from exc
        key = (module, digest)
        code = self._workflow_code.get(key)
        if code is None:
            code = compile_source(source, module, "workflow", path=path)
            self._workflow_code[key] = code
        return code, path

    def compile_for_sandbox(self, module: str) -> tuple[str, str] | None:
        """The sandbox's hook: workflow-mode source of a user module that has directives."""
        try:
            path = self.module_path(module)
            source, _ = self._sources.read(path)
        except (WorkflowNotFound, OSError, UnicodeDecodeError):
            return None
        if not has_directive(source):
            return None
        # The real module first, as for a workflow's own module: the sandbox
        # shares its classes (and their method steps dispatch).
        self.real_module(module)
        return self.workflow_source(module)

    def code_version(self, workflow_id: str) -> str:
        """The version of the code that runs `workflow_id` here, recorded in
        each run's `run_created`: the deployment id of a `wdk build` tree,
        else `src:` and a hash of the workflow module's source."""
        # The module's file and whether a build wrote it never change once
        # found (`module_path`, `built_workflow_file` remember them): the file
        # of a source workflow is remembered here (a start asks every time).
        path = self._source_paths.get(workflow_id)
        if path is None:
            path = self.module_path(split_id(workflow_id)[1])
            built = built_workflow_file(path)
            if built is not None:
                return _deployment_id(str(Path(built).parent))
            self._source_paths[workflow_id] = path
        try:
            return "src:" + self._sources.read(path)[1][:16]
        except (OSError, UnicodeDecodeError) as exc:
            raise WorkflowNotFound(f"cannot read {path}: {exc}") from exc

    # --- workflows -------------------------------------------------------------------

    def workflow_id_of(self, fn: Any) -> str:
        """The id of a workflow function (client-compiled or plain source)."""
        step_id = getattr(fn, "__wdk_step_id__", None)
        if isinstance(step_id, str):
            raise TypeError(_is_a_step(step_id))
        fn_id = self._workflow_id_of(fn)
        owner = getattr(fn, "__self__", None)
        if isinstance(owner, type) and owner.__qualname__ != split_id(fn_id)[2].rpartition(".")[0]:
            # A classmethod workflow reached through a subclass: the run's `cls`
            # would be the class that defines it, not this one.
            raise TypeError(
                f"{fn_id} is a @classmethod workflow of another class than "
                f"{owner.__qualname__}: start it through the class that defines it"
            )
        return fn_id

    def _workflow_id_of(self, fn: Any) -> str:
        fn_id = getattr(fn, "__wdk_workflow_id__", None)
        if isinstance(fn_id, str):
            module = split_id(fn_id)[1]
            code = getattr(inspect.unwrap(fn), "__code__", None)
            if code is not None and module not in self.paths:
                self.paths[module] = code.co_filename
            return fn_id
        target = inspect.unwrap(fn) if hasattr(fn, "__wrapped__") else fn
        code = getattr(target, "__code__", None)
        if code is None or not code.co_filename.endswith(".py"):
            raise TypeError(f"{fn!r} is not a workflow function")
        path = self._abspath(code.co_filename)
        key = (path, target.__qualname__, self._sources.read(path)[1])
        known = self._ids.get(key)
        if known is not None:
            return known
        module = module_name_for_path(path)
        info = self._sources.analysis(path, module)
        for f in info.functions:
            if f.qualname == target.__qualname__:
                if f.kind == "step":
                    raise TypeError(_is_a_step(f.id))
                self.paths.setdefault(module, path)
                self._ids[key] = f.id
                return f.id
        raise TypeError(
            f"{target.__qualname__} in {path} is not a workflow: "
            'its first statement must be the docstring "use workflow"'
        )

    def _abspath(self, filename: str) -> str:
        """os.path.abspath, remembered for an absolute name (a relative one
        depends on the working directory)."""
        path = self._abspaths.get(filename)
        if path is None:
            path = os.path.abspath(filename)
            if os.path.isabs(filename):
                self._abspaths[filename] = path
        return path

    def step_id_of(self, fn: Any) -> str | None:
        """The step id of a function marked "use step" (plain source, client
        mode, sandbox or nested), or None for any other function."""
        fn_id = getattr(fn, "__wdk_step_id__", None)
        if isinstance(fn_id, str):
            return fn_id
        qualname = getattr(fn, "__qualname__", None)
        table = getattr(fn, "__globals__", {}).get("__wdk_steps__")
        if isinstance(table, dict) and qualname in table:
            return str(table[qualname])  # compiled code: the module's own table
        target = inspect.unwrap(fn)
        code = getattr(target, "__code__", None)
        if code is None or not code.co_filename.endswith(".py"):
            return None
        if code not in self._step_ids:  # plain source: what the compiler says it is
            self._step_ids[code] = self._analyzed_step_id(code.co_filename, target.__qualname__)
        return self._step_ids[code]

    def _analyzed_step_id(self, filename: str, qualname: str) -> str | None:
        path = os.path.abspath(filename)
        try:
            info = analyze_source(_read(path), module_name_for_path(path), path=path)
        except (OSError, UnicodeDecodeError, WdkError):
            return None
        for f in info.steps:
            if f.qualname == qualname:
                self.paths.setdefault(f.module, path)
                return f.id
        return None

    def workflow_function(self, workflow_id: str) -> Callable[..., Any]:
        """The sandboxed workflow function for an id."""
        known = self._workflow_fns.get(workflow_id)
        # Found before (every start and every cold advance asks): still the
        # function while its module is the one imported and its source file
        # unchanged (same text: the sandbox loads the same module for it).
        if known is not None:
            path, digest, module_name, real, fn = known
            if sys.modules.get(module_name) is real:
                try:
                    if self._sources.read(path)[1] == digest:
                        return fn
                except (OSError, UnicodeDecodeError):
                    pass  # the look-up below says what is wrong
        fn = self._load_workflow_function(workflow_id)
        module = split_id(workflow_id)[1]
        path = self.module_path(module)
        imported = sys.modules.get(module)
        if imported is not None and built_workflow_file(path) is None:
            try:
                digest = self._sources.read(path)[1]
            except (OSError, UnicodeDecodeError):
                return fn
            self._workflow_fns[workflow_id] = (path, digest, module, imported, fn)
        return fn

    def _load_workflow_function(self, workflow_id: str) -> Callable[..., Any]:
        kind, module, qualname = split_id(workflow_id)
        if kind == "step":
            raise WorkflowNotFound(_is_a_step(workflow_id))
        code, path = self.workflow_source(module)
        # The real module first: its classes are shared with the sandbox (and
        # dataclasses with string annotations need it to resolve them).
        self.real_module(module)
        namespace = self.sandbox.load(module, code, path)
        raw = namespace.get("__wdk_functions__", {}).get(qualname)
        if raw is None or workflow_id not in namespace.get("__wdk_workflows__", {}).values():
            step_id = namespace.get("__wdk_steps__", {}).get(qualname)
            if step_id is not None:
                raise WorkflowNotFound(_is_a_step(step_id))
            raise WorkflowNotFound(f"no workflow {qualname!r} in {path} (id {workflow_id})")
        if isinstance(raw, classmethod):
            # Bound to the class the sandbox shares with the real module.
            owner = _lookup(namespace, qualname.rpartition(".")[0])
            return types.MethodType(raw.__func__, owner)
        return raw.__func__ if isinstance(raw, staticmethod) else raw

    # --- steps -----------------------------------------------------------------------

    def real_module(self, module: str) -> types.ModuleType:
        loaded = sys.modules.get(module)
        if loaded is not None:
            return loaded
        path = self.paths.get(module)
        if path is not None:
            # The module may be running as a script (`python shop.py`): reuse it
            # rather than importing (and running) it a second time.
            for candidate in list(sys.modules.values()):
                file = getattr(candidate, "__file__", None)
                if file and os.path.abspath(file) == os.path.abspath(path):
                    # Known under its import name too: the sandbox's copy finds
                    # its classes there (shared classes, dataclass annotations).
                    sys.modules.setdefault(module, candidate)
                    return candidate
        try:
            return importlib.import_module(module)
        except ModuleNotFoundError as exc:
            if exc.name != module:
                raise  # the module is there, its own import failed: keep that traceback
            raise WorkflowNotFound(f"cannot import module {module!r}: {exc}") from exc

    def step_function(self, step_id: str, closure: dict[str, Any] | None = None) -> Callable[..., Any]:
        known = self._step_fns.get(step_id)
        # Found before (the step of every step call): still the function while
        # its module is the one imported and binds the same object to its name.
        if known is not None:
            module_name, real_module, namespace, name, step = known
            if sys.modules.get(module_name) is real_module and namespace.get(name) is step:
                return known[4]
        _, module, qualname = split_id(step_id)
        real = self.real_module(module)
        namespace = vars(real)
        if "<locals>" in qualname:
            return _nested_function(namespace, qualname, closure or {})
        obj = _lookup(namespace, qualname, bind=True)
        if obj is None:
            raise WorkflowNotFound(f"no step {qualname!r} in module {module!r} (id {step_id})")
        fn: Callable[..., Any] = methods.original(obj)
        if "." not in qualname and fn is obj:  # a function step (a method's is bound anew)
            self._step_fns[step_id] = (module, real, namespace, qualname, fn)
        return fn


def _is_a_step(step_id: str) -> str:
    _, module, qualname = split_id(step_id)
    return (
        f'{module}:{qualname} is a step ("use step"), not a workflow: a step runs inside a '
        "workflow run. Start the workflow that awaits it"
    )


def _lookup(namespace: dict[str, Any], qualname: str, bind: bool = False) -> Any:
    parts = qualname.split(".")
    obj: Any = namespace.get(parts[0])
    for part in parts[1:]:
        if obj is None:
            return None
        obj = getattr(obj, part, None) if bind else obj.__dict__.get(part)
    if isinstance(obj, (staticmethod, classmethod)) and not bind:
        obj = obj.__func__
    return obj


def _find_code(code: types.CodeType, qualname: str) -> types.CodeType | None:
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            if const.co_qualname == qualname:
                return const
            found = _find_code(const, qualname)
            if found is not None:
                return found
    return None


def _nested_function(namespace: dict[str, Any], qualname: str, closure: dict[str, Any]) -> Callable[..., Any]:
    """Rebuild a step nested in a workflow from the outer function's code,
    filling its free variables with the captured values that travelled with the call."""
    outer_name = qualname.split(".<locals>.")[0]
    outer = _lookup(namespace, outer_name)
    outer = inspect.unwrap(outer) if outer is not None else None
    code = _find_code(outer.__code__, qualname) if outer is not None and hasattr(outer, "__code__") else None
    if code is None:
        raise WorkflowNotFound(f"no nested step {qualname!r} in module {namespace.get('__name__')!r}")
    cells = tuple(types.CellType(closure[name]) if name in closure else types.CellType() for name in code.co_freevars)
    return types.FunctionType(code, namespace, code.co_name, None, cells or None)


_default: Loader | None = None


def default_loader() -> Loader:
    global _default
    if _default is None:
        _default = Loader()
    return _default
