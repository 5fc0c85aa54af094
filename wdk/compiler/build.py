"""`wdk build` without the CLI: compile a project's directive modules into
`client/`, `step/` and `workflow/` trees plus `manifest.json`.

    from wdk.compiler.build import build
    result = build(["src"], ".wdk/build")
    if not result.ok:
        for d in result.diagnostics:
            print(d.format())

Builds are incremental: a cache in the output folder remembers, per source
file, its content hash, module name, outputs and analysis, so a file whose
bytes did not change is neither re-parsed nor re-written.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import asdict, dataclass, field
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import msgspec

from wdk.compiler.import_hook import compiler_fingerprint
from wdk.compiler.model import FunctionInfo, Mode, ModuleInfo
from wdk.errors import CompileError, Diagnostic, WdkError

__all__ = ["DEFAULT_OUT", "MODES", "BuildError", "BuildResult", "build", "discover"]

DEFAULT_OUT = ".wdk/build"
MODES: tuple[Mode, ...] = ("client", "step", "workflow")
MANIFEST = "manifest.json"
CACHE = ".wdk-build-cache.json"  # also marks a folder as build output
_CACHE_FORMAT = 1
# Folders that never hold the project's own code.
_SKIP_DIRS = frozenset(
    {".venv", "venv", "__pycache__", "site-packages", "dist-packages", "node_modules"}
)
# Below this many files to compile, a process pool costs more than it saves.
_POOL_MIN_FILES = 8

Progress = Callable[[int, int], None]


class BuildError(WdkError):
    """Bad input that stops the whole build: a missing path, an unwritable output folder."""


class _CacheEntry(msgspec.Struct):
    hash: str
    directive: bool
    module: str = ""
    outputs: list[str] = []
    info: ModuleInfo | None = None
    diagnostics: list[Diagnostic] = []


class _Cache(msgspec.Struct):
    format: int
    fingerprint: str
    files: dict[str, _CacheEntry]


@dataclass
class BuildResult:
    """What a build did. `ok` is False when any file had an error."""

    out_dir: Path
    modules: list[ModuleInfo] = field(default_factory=list)
    diagnostics: list[Diagnostic] = field(default_factory=list)
    compiled: list[str] = field(default_factory=list)
    cached: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    scanned: int = 0
    manifest: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.diagnostics

    @property
    def deployment_id(self) -> str:
        return str(self.manifest.get("deployment_id", ""))

    @property
    def workflows(self) -> list[FunctionInfo]:
        return [f for m in self.modules for f in m.workflows]

    @property
    def steps(self) -> list[FunctionInfo]:
        return [f for m in self.modules for f in m.steps]

    def summary(self) -> dict[str, Any]:
        """Counts and ids as plain JSON-able values."""
        return {
            "ok": self.ok,
            "errors": len(self.diagnostics),
            "files": self.scanned,
            "modules": len(self.modules),
            "workflows": len(self.workflows),
            "steps": len(self.steps),
            "compiled": len(self.compiled),
            "cached": len(self.cached),
            "removed": len(self.removed),
            "deployment_id": self.deployment_id,
            "out": str(self.out_dir),
            "seconds": round(self.seconds, 4),
        }


# --- finding and reading sources ---------------------------------------------


def _is_skipped_dir(entry: os.DirEntry[str], out_dir: Path) -> bool:
    if entry.name.startswith(".") or entry.name in _SKIP_DIRS:
        return True
    for marker in ("pyvenv.cfg", CACHE):  # a virtualenv by another name, another build's output
        if os.path.exists(os.path.join(entry.path, marker)):
            return True
    return Path(entry.path).resolve() == out_dir


def _walk(folder: Path, out_dir: Path, found: list[Path]) -> None:
    try:
        entries = sorted(os.scandir(folder), key=lambda e: e.name)
    except OSError as err:
        raise BuildError(f"cannot list {folder}: {err.strerror}") from None
    for entry in entries:
        if entry.is_dir(follow_symlinks=False):
            if not _is_skipped_dir(entry, out_dir):
                _walk(Path(entry.path), out_dir, found)
        elif entry.name.endswith(".py") and entry.is_file():
            found.append(Path(entry.path))


def discover(
    paths: Iterable[str | os.PathLike[str]], out_dir: str | os.PathLike[str] = DEFAULT_OUT
) -> list[Path]:
    """Every `.py` file under `paths` (files are taken as given), absolute,
    without duplicates, skipping hidden folders, virtualenvs, `__pycache__`,
    site-packages and the output folder."""
    out = Path(out_dir).resolve()
    found: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if not path.exists():
            raise BuildError(f"{raw}: no such file or directory")
        if path.is_dir():
            _walk(path.absolute(), out, found)
        elif path.suffix == ".py":
            found.append(path.absolute())
        else:
            raise BuildError(f"{raw}: not a Python file or package folder")
    return list(dict.fromkeys(Path(os.path.normpath(p)) for p in found))


def _display(path: Path, root: Path) -> str:
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        return path.as_posix()


def _decode(data: bytes, display: str) -> str | Diagnostic:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as err:
        start = err.start
        line = data.count(b"\n", 0, start) + 1
        column = start - (data.rfind(b"\n", 0, start) + 1) + 1
        return Diagnostic(
            display,
            line,
            column,
            f"not valid UTF-8: byte 0x{data[start]:02x} at byte offset {start}",
            hint="wdk reads sources as UTF-8; re-save the file as UTF-8",
        )
    return text.removeprefix("\ufeff")


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# --- compiling (runs in worker processes for big builds) --------------------


_Compiled = tuple[ModuleInfo | None, dict[Mode, str], list[Diagnostic]]


def _compile_one(text: str, module: str, display: str) -> _Compiled:
    from wdk.compiler import api

    try:
        info = api.analyze_source(text, module, path=display)
        outputs = {mode: api.compile_source(text, module, mode, path=display) for mode in MODES}
    except CompileError as err:
        return None, {}, err.diagnostics
    except Exception as err:  # a compiler bug must not hide the other files' results
        message = f"internal compiler error: {type(err).__name__}: {err}"
        return None, {}, [Diagnostic(display, 0, 0, message, hint="please report this bug")]
    return info, outputs, []


def _compile_many(
    jobs: list[tuple[str, str, str]], workers: int, progress: Progress | None
) -> list[_Compiled]:
    total = len(jobs)
    if workers <= 1 or total < _POOL_MIN_FILES:
        done = []
        for n, job in enumerate(jobs, 1):
            done.append(_compile_one(*job))
            if progress:
                progress(n, total)
        return done
    from wdk.compiler import api  # noqa: F401  (imported once here, inherited by forked workers)

    # fork shares the already-imported compiler; it is only safe with one thread.
    method = "fork" if threading.active_count() == 1 and os.name == "posix" else "spawn"
    # Biggest files first, so no worker is left with a long file at the end.
    order = sorted(range(total), key=lambda i: -len(jobs[i][0]))
    results: list[_Compiled | None] = [None] * total
    with ProcessPoolExecutor(
        max_workers=min(workers, total), mp_context=get_context(method)
    ) as pool:
        futures = {pool.submit(_compile_one, *jobs[i]): i for i in order}
        for n, future in enumerate(as_completed(futures), 1):
            results[futures[future]] = future.result()
            if progress:
                progress(n, total)
    return [r for r in results if r is not None]


# --- the manifest --------------------------------------------------------------


def _function_entry(fn: FunctionInfo, file: str) -> dict[str, Any]:
    entry = asdict(fn)
    entry["file"] = file
    entry["params"] = [asdict(p) for p in fn.params]
    entry["captures"] = list(fn.captures)
    entry["options"] = dict(fn.options)
    return entry


def _manifest(modules: list[tuple[ModuleInfo, str, list[str]]], version: str) -> dict[str, Any]:
    mods, workflows, steps = [], [], []
    for info, file, outputs in modules:
        mods.append(
            {
                "module": info.module,
                "file": file,
                "source_hash": info.source_hash,
                "outputs": outputs,
            }
        )
        workflows += [_function_entry(f, file) for f in info.workflows]
        steps += [_function_entry(f, file) for f in info.steps]
    body = {"wdk_version": version, "modules": mods, "workflows": workflows, "steps": steps}
    # The deployment id is the hash of everything else, so any change of code,
    # position or version is a new deployment.
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":")).encode()
    return {"deployment_id": _sha256(canonical), **body}


def _wdk_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("wdk")
    except PackageNotFoundError:
        return "0+unknown"


def _fingerprint(version: str) -> str:
    """Changes when the compiler changes, so a cache from another compiler is dropped."""
    return _sha256(f"{version}:{compiler_fingerprint()}".encode())


# --- the output folder -----------------------------------------------------------


def _output_rel(mode: str, module: str, source: Path) -> str:
    parts = module.split(".")
    if source.name == "__init__.py":
        parts.append("__init__")
    return f"{mode}/{'/'.join(parts)}.py"


def _load_cache(out: Path, fingerprint: str) -> dict[str, _CacheEntry]:
    try:
        cache = msgspec.json.decode((out / CACHE).read_bytes(), type=_Cache)
    except (OSError, msgspec.DecodeError, msgspec.ValidationError):
        return {}
    if cache.format != _CACHE_FORMAT or cache.fingerprint != fingerprint:
        return {}
    return cache.files


def _write(path: Path, data: bytes) -> None:
    try:
        if path.exists() and path.read_bytes() == data:
            return  # unchanged: keep the mtime, so watchers see no change
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.tmp")
        tmp.write_bytes(data)
        os.replace(tmp, path)
    except OSError as err:
        raise BuildError(f"cannot write {path}: {err.strerror}") from None


def _remove(out: Path, rel: str) -> None:
    path = out / rel
    try:
        path.unlink(missing_ok=True)
        # Drop folders left empty, up to the mode folder.
        parent = path.parent
        while parent != out and parent.parent != out and not any(parent.iterdir()):
            parent.rmdir()
            parent = parent.parent
    except OSError as err:
        raise BuildError(f"cannot remove {path}: {err.strerror}") from None


def _check_writable(out: Path) -> None:
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe = out / ".write-probe"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as err:
        reason = err.strerror or str(err)
        raise BuildError(f"cannot write to output folder {out}: {reason}") from None


# --- the build -------------------------------------------------------------------


def build(
    paths: Sequence[str | os.PathLike[str]] = (".",),
    out_dir: str | os.PathLike[str] = DEFAULT_OUT,
    *,
    check: bool = False,
    root: str | os.PathLike[str] | None = None,
    workers: int | None = None,
    progress: Progress | None = None,
) -> BuildResult:
    """Compile every directive module under `paths` in all three modes.

    Writes `<out_dir>/{client,step,workflow}/<module path>.py` and
    `<out_dir>/manifest.json` (not when `check` is true, which writes nothing).
    File paths in diagnostics and the manifest are relative to `root`
    (default: the current folder). Per-file problems become diagnostics;
    a missing path or an unwritable output folder raises `BuildError`.
    """
    started = time.perf_counter()
    base = Path(root or os.getcwd()).absolute()
    out = (base / out_dir).resolve()
    files = discover(paths, out)
    if not check:
        _check_writable(out)
    version = _wdk_version()
    fingerprint = _fingerprint(version)
    old = _load_cache(out, fingerprint)
    result = BuildResult(out_dir=out, scanned=len(files))

    entries, pending = _scan(files, base, out, old, result, check=check)
    jobs = [(text, module, display) for display, _, text, _, module in pending]
    compiled = _compile_many(jobs, workers or os.cpu_count() or 1, progress)
    for (display, path, _, digest, module), outcome in zip(pending, compiled, strict=True):
        info, outputs, diagnostics = outcome
        entry = _CacheEntry(
            hash=digest, directive=True, module=module, info=info, diagnostics=diagnostics
        )
        if info is not None:
            entry.outputs = [_output_rel(mode, module, path) for mode in MODES]
            if not check:
                for mode, rel in zip(MODES, entry.outputs, strict=True):
                    _write(out / rel, outputs[mode].encode())
        entries[display] = entry
        result.compiled.append(display)

    _collect(result, entries, files, base)
    if not check:
        _sweep(out, old, entries, result)
        _write_cache(out, fingerprint, entries, old)
    if result.ok:
        ordered = sorted(
            ((e.info, d, e.outputs) for d, e in entries.items() if e.info is not None),
            key=lambda t: t[0].module,
        )
        result.manifest = _manifest(ordered, version)
        if not check:
            _write(out / MANIFEST, json.dumps(result.manifest, indent=2).encode() + b"\n")
    elif not check:
        # A failed build must not leave a manifest that could be deployed.
        (out / MANIFEST).unlink(missing_ok=True)
    result.seconds = time.perf_counter() - started
    return result


_Pending = tuple[str, Path, str, str, str]  # display path, path, text, hash, module


def _scan(
    files: list[Path],
    base: Path,
    out: Path,
    old: dict[str, _CacheEntry],
    result: BuildResult,
    *,
    check: bool,
) -> tuple[dict[str, _CacheEntry], list[_Pending]]:
    """Read and hash every file; keep the cache entries still valid and list
    the directive files that need compiling."""
    from wdk.compiler.api import has_directive, module_name_for_path

    entries: dict[str, _CacheEntry] = {}
    pending: list[_Pending] = []
    for path in files:
        display = _display(path, base)
        try:
            data = path.read_bytes()
        except OSError as err:
            result.diagnostics.append(
                Diagnostic(display, 0, 0, f"cannot read file: {err.strerror or err}")
            )
            continue
        digest = _sha256(data)
        prior = old.get(display)
        if prior is not None and prior.hash == digest and not prior.directive:
            entries[display] = prior
            continue
        text = _decode(data, display)
        if isinstance(text, Diagnostic):
            # Only files wdk has to compile must be UTF-8; others are none of its business.
            if has_directive(data.decode("utf-8", "replace")):
                result.diagnostics.append(text)
            continue
        if not has_directive(text):
            entries[display] = _CacheEntry(hash=digest, directive=False)
            continue
        module = module_name_for_path(path)
        if (
            prior is not None
            and prior.hash == digest
            and prior.module == module
            and (check or all((out / rel).exists() for rel in prior.outputs))
        ):
            entries[display] = prior
            result.cached.append(display)
            continue
        pending.append((display, path, text, digest, module))

    return entries, pending


def _collect(
    result: BuildResult, entries: dict[str, _CacheEntry], files: list[Path], base: Path
) -> None:
    """Gather modules and diagnostics (cached ones too), and refuse two files
    that claim the same module."""
    owner: dict[str, str] = {}
    for display in (_display(p, base) for p in files):
        entry = entries.get(display)
        if entry is None:
            continue
        result.diagnostics.extend(entry.diagnostics)
        if entry.info is None:
            continue
        if entry.info.module in owner:
            message = f"module {entry.info.module} is also built from {owner[entry.info.module]}"
            result.diagnostics.append(
                Diagnostic(
                    display, 0, 0, message, hint="build one of them, or make the folders packages"
                )
            )
            continue
        owner[entry.info.module] = display
        result.modules.append(entry.info)
    result.modules.sort(key=lambda m: m.module)
    result.diagnostics.sort(key=lambda d: (d.path, d.line, d.column))


def _sweep(
    out: Path, old: dict[str, _CacheEntry], new: dict[str, _CacheEntry], result: BuildResult
) -> None:
    """Remove outputs no current source produces (deleted files, renamed
    modules, directives taken out, files that now fail to compile)."""
    keep = {rel for e in new.values() for rel in e.outputs}
    for display, entry in old.items():
        stale = [rel for rel in entry.outputs if rel not in keep]
        for rel in stale:
            _remove(out, rel)
        now = new.get(display)
        if entry.outputs and (now is None or not now.directive):
            result.removed.append(display)


def _write_cache(
    out: Path, fingerprint: str, new: dict[str, _CacheEntry], old: dict[str, _CacheEntry]
) -> None:
    if new == old and (out / CACHE).exists():
        return
    data = msgspec.json.encode(_Cache(format=_CACHE_FORMAT, fingerprint=fingerprint, files=new))
    _write(out / CACHE, data)
