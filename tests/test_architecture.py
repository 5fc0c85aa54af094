"""Dependencies point down: the cli and the plugins call `wdk.api`, which
calls a client (`wdk.client`); the client and the HTTP server (`wdk.server`)
call the runtime; the runtime calls the worlds. Nothing calls up.

The imports are read from the source (every `import` anywhere in a module:
at the top, in a function, under TYPE_CHECKING), so an import cycle between
packages cannot hide behind a function-local import.
"""

from __future__ import annotations

import ast
import itertools
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent / "wdk"

# The units whose imports must not form a cycle: sub-packages and top-level modules.
LAYERS = ("wdk.runtime", "wdk.worlds", "wdk.client", "wdk.server", "wdk.plugins", "wdk.cli",
          "wdk.compiler", "wdk.api", "wdk.web", "wdk.protocol", "wdk.errors", "wdk.durations", "wdk.settings",
          "wdk.ai")

# What each low layer may never import (a layer above it).
NEVER = {
    "wdk.durations": set(LAYERS) - {"wdk.durations"},
    "wdk.settings": set(LAYERS) - {"wdk.settings"},
    "wdk.errors": {"wdk.runtime", "wdk.worlds", "wdk.client", "wdk.api", "wdk.server", "wdk.plugins", "wdk.cli"},
    "wdk.protocol": {"wdk.runtime", "wdk.worlds", "wdk.client", "wdk.api", "wdk.server", "wdk.plugins", "wdk.cli"},
    "wdk.worlds": {"wdk.runtime", "wdk.client", "wdk.api", "wdk.server", "wdk.plugins", "wdk.cli"},
    "wdk.compiler": {"wdk.runtime", "wdk.worlds", "wdk.client", "wdk.api", "wdk.server", "wdk.plugins", "wdk.cli"},
    "wdk.runtime": {"wdk.client", "wdk.api", "wdk.server", "wdk.plugins", "wdk.cli", "wdk.web", "wdk.ai"},
    "wdk.client": {"wdk.api", "wdk.server", "wdk.plugins", "wdk.cli", "wdk.web"},
    "wdk.server": {"wdk.client", "wdk.api", "wdk.plugins", "wdk.cli", "wdk.web"},
    # The agent is workflow-side code on top of the runtime; nothing below it knows it.
    "wdk.ai": {"wdk.client", "wdk.api", "wdk.server", "wdk.plugins", "wdk.cli", "wdk.web"},
}


def unit_of(module: str, root: Path = ROOT) -> str:
    """`wdk.runtime.hooks` -> `wdk.runtime`; `wdk.api` -> `wdk.api`; `wdk` -> `wdk`."""
    parts = module.split(".")
    return "wdk" if len(parts) == 1 else f"wdk.{parts[1]}"


def _module_name(path: Path, root: Path) -> str:
    rel = path.relative_to(root.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports(root: Path = ROOT) -> dict[tuple[str, str], list[str]]:
    """(importing unit, imported unit) -> the `file:line`s that make that edge."""
    edges: dict[tuple[str, str], list[str]] = defaultdict(list)
    for path in sorted(root.rglob("*.py")):
        module = _module_name(path, root)
        source_unit = unit_of(module, root)
        package = module if path.name == "__init__.py" else module.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:  # relative: resolve against this module's package
                    anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                    base = ".".join([*anchor, base] if base else anchor)
                if base == "wdk":  # `from wdk import protocol` names a submodule, `sleep` the root
                    targets = [f"wdk.{a.name}" if (root / a.name).exists() or (root / f"{a.name}.py").exists()
                               else "wdk" for a in node.names]
                else:
                    targets = [base]
            for target in targets:
                if target.split(".")[0] != "wdk":
                    continue
                unit = unit_of(target, root)
                if unit != source_unit:
                    edges[(source_unit, unit)].append(f"{path.relative_to(root.parent)}:{node.lineno}")
    return edges


def find_cycle(edges: dict[tuple[str, str], list[str]], units: tuple[str, ...]) -> list[str] | None:
    """One cycle among `units` as [a, b, ..., a], or None."""
    graph: dict[str, set[str]] = defaultdict(set)
    for a, b in edges:
        if a in units and b in units:
            graph[a].add(b)
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return [*path[path.index(nxt):], nxt]
            if nxt not in state and (found := visit(nxt)) is not None:
                return found
        path.pop()
        state[node] = 2
        return None

    for unit in units:
        if unit not in state and (found := visit(unit)) is not None:
            return found
    return None


def _describe(cycle: list[str], edges: dict[tuple[str, str], list[str]]) -> str:
    return "\n".join(f"{a} -> {b}: {', '.join(edges[(a, b)][:5])}" for a, b in itertools.pairwise(cycle))


def test_no_import_cycle_between_packages() -> None:
    edges = imports()
    cycle = find_cycle(edges, LAYERS)
    assert cycle is None, "import cycle between packages:\n" + _describe(cycle, edges)


def test_lower_layers_never_import_upper_ones() -> None:
    edges = imports()
    wrong = {edge: sites for edge, sites in edges.items() if edge[1] in NEVER.get(edge[0], set())}
    assert not wrong, "\n".join(f"{a} imports {b}: {', '.join(sites)}" for (a, b), sites in sorted(wrong.items()))


def test_the_cycle_finder_finds_a_cycle(tmp_path: Path) -> None:
    """The control: a runtime module that imports the client API is a cycle
    even when the import hides in a function."""
    pkg = tmp_path / "wdk"
    for name in ("runtime", "client"):
        (pkg / name).mkdir(parents=True)
        (pkg / name / "__init__.py").write_text("")
    (pkg / "__init__.py").write_text("")
    (pkg / "client" / "local.py").write_text("from wdk.runtime.engine import get_runtime\n")
    (pkg / "runtime" / "runtime.py").write_text("def start():\n    from wdk.client import current_client\n")
    edges = imports(pkg)
    assert find_cycle(edges, ("wdk.runtime", "wdk.client")) == ["wdk.runtime", "wdk.client", "wdk.runtime"]
    assert edges[("wdk.runtime", "wdk.client")] == ["wdk/runtime/runtime.py:2"]


def test_plugins_and_the_protocol_do_not_load_the_aiohttp_server() -> None:
    """Flask and Django apps use wdk's endpoints without aiohttp's web server."""
    code = (
        "import sys, wdk.protocol, wdk.plugins._core, wdk.plugins._threaded\n"
        "print(sorted(m for m in sys.modules if m == 'aiohttp.web' or m.startswith(('wdk.server.app', "
        "'wdk.server.edge', 'wdk.server.handlers', 'wdk.server.jsonapi', 'wdk.server.streaming'))))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert done.stdout.strip() == "[]", done.stdout + done.stderr


def test_the_architecture_doc_names_files_and_modules_that_exist() -> None:
    """docs/architecture.md follows the code: each file and module it names is there."""
    import importlib.util
    import re

    text = (ROOT.parent / "docs" / "architecture.md").read_text()
    files = set(re.findall(r"\b((?:wdk|tests)/[\w/]+\.py)\b", text))
    modules = set(re.findall(r"`(wdk(?:\.\w+)+)`", text))
    assert len(files) > 20 and len(modules) >= 5
    assert sorted(f for f in files if not (ROOT.parent / f).is_file()) == []
    assert sorted(m for m in modules if importlib.util.find_spec(m) is None) == []
