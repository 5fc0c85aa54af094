"""`wdk build`: compile the project's directive modules (see wdk.compiler.build)."""

from __future__ import annotations

import argparse
import json
from typing import TYPE_CHECKING, Any

from wdk.cli.main import CommandError

if TYPE_CHECKING:
    from rich.console import Console

    from wdk.compiler.build import BuildResult, Progress
    from wdk.errors import Diagnostic

HELP = "compile workflows and steps into client/, step/, workflow/ trees and manifest.json"
EXAMPLES = """\
examples:
  wdk build                      # the current folder, into .wdk/build
  wdk build src/ --out dist/wdk  # one package folder, another output folder
  wdk build --check --json       # compile and report as JSON, write nothing
  wdk build --tree               # show every workflow and step
"""


def register(subparsers: Any) -> None:
    """Add the `build` command."""
    parser = subparsers.add_parser(
        "build",
        help=HELP,
        description=f"wdk build: {HELP}. Unchanged files are not recompiled.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "paths",
        nargs="*",
        default=["."],
        metavar="PATH",
        help="files or package folders (default: .)",
    )
    parser.add_argument(
        "--out", default=".wdk/build", metavar="DIR", help="output folder (default: .wdk/build)"
    )
    parser.add_argument("--check", action="store_true", help="compile and report; write nothing")
    parser.add_argument(
        "--json", action="store_true", help="print diagnostics and a summary as JSON"
    )
    parser.add_argument(
        "--tree", action="store_true", help="print the workflows and steps as a tree"
    )
    parser.add_argument(
        "--jobs", "-j", type=int, default=None, metavar="N", help="worker processes (default: CPUs)"
    )
    parser.set_defaults(func=run_build)


def run_build(args: argparse.Namespace) -> int:
    """Handler of `wdk build`: 0 when every file compiled, else 1."""
    from rich.console import Console

    from wdk.compiler.build import BuildError, build

    out = Console(soft_wrap=True, highlight=False)
    err = Console(stderr=True, soft_wrap=True, highlight=False)
    with _CompileProgress(err, enabled=not args.json) as progress:
        try:
            result = build(
                args.paths, args.out, check=args.check, workers=args.jobs, progress=progress
            )
        except BuildError as error:
            raise CommandError(str(error)) from None
    if args.json:
        print(json.dumps(_as_json(result), indent=2))
        return 0 if result.ok else 1
    for diagnostic in result.diagnostics:
        print_diagnostic(err, diagnostic)
    if args.tree:
        out.print(_tree(result))
    _print_summary(out if result.ok else err, result, check=args.check)
    return 0 if result.ok else 1


def print_diagnostic(console: Console, d: Diagnostic) -> None:
    """`path:line:col: error: message`, the source line with a caret, the hint."""
    from rich.text import Text

    where = f"{d.path}:{d.line}:{d.column}:" if d.line > 0 else f"{d.path}:"
    console.print(Text.assemble((where, "bold"), " ", ("error:", "bold red"), f" {d.message}"))
    line = d.source_line or _read_line(d.path, d.line)
    if line:
        gutter = f"{d.line:>5} | "
        console.print(Text.assemble((gutter, "dim"), line.expandtabs(1)))
        caret = " " * (len(gutter) - 2) + "| " + " " * max(d.column - 1, 0) + "^"
        console.print(Text(caret, style="bold red"))
    if d.hint:
        console.print(Text.assemble(("  hint: ", "cyan"), d.hint))


def _read_line(path: str, line: int) -> str:
    if line <= 0:
        return ""
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            for n, text in enumerate(f, 1):
                if n == line:
                    return text.rstrip("\r\n")
    except OSError:
        pass
    return ""


def _diagnostic_json(d: Diagnostic) -> dict[str, Any]:
    return {
        "path": d.path,
        "line": d.line,
        "column": d.column,
        "severity": "error",
        "message": d.message,
        "hint": d.hint,
        "text": d.format(),
    }


def _as_json(result: BuildResult) -> dict[str, Any]:
    return {
        "ok": result.ok,
        "summary": result.summary(),
        "diagnostics": [_diagnostic_json(d) for d in result.diagnostics],
        "workflows": [f.id for f in result.workflows],
        "steps": [f.id for f in result.steps],
    }


def _tree(result: BuildResult) -> Any:
    from rich.tree import Tree

    label = f"[bold]deployment[/] {result.deployment_id[:16] or '(none: build failed)'}"
    tree = Tree(label)
    for info in result.modules:
        branch = tree.add(f"[bold]{info.module}[/] [dim]{info.path}[/]")
        for fn in info.functions:
            color = "magenta" if fn.kind == "workflow" else "green"
            params = ", ".join(p.name for p in fn.params)
            flavour = "" if fn.is_async else " [dim](sync)[/]"
            branch.add(f"[{color}]{fn.kind}[/] {fn.qualname}({params}){flavour} [dim]:{fn.line}[/]")
    return tree


def _print_summary(console: Console, result: BuildResult, *, check: bool) -> None:
    s = result.summary()
    counts = f"{s['modules']} modules, {s['workflows']} workflows, {s['steps']} steps"
    work = f"{s['compiled']} compiled, {s['cached']} unchanged" + (
        f", {s['removed']} removed" if s["removed"] else ""
    )
    if not result.ok:
        files = len({d.path for d in result.diagnostics})
        console.print(f"[bold red]{s['errors']} error(s)[/] in {files} file(s); {counts} ({work})")
    elif check:
        console.print(f"[green]ok[/]: {counts} ({work}); nothing written")
    else:
        console.print(f"[green]built[/] {counts} ({work}) in {s['seconds']:.2f}s -> {s['out']}")


class _CompileProgress:
    """A rich progress bar on a terminal while files compile; a no-op elsewhere."""

    def __init__(self, console: Console, *, enabled: bool) -> None:
        self._console = console
        self._enabled = enabled and console.is_terminal
        self._bar: Any = None
        self._task: Any = None

    def __enter__(self) -> Progress | None:
        return self._update if self._enabled else None

    def _update(self, done: int, total: int) -> None:
        if self._bar is None:
            from rich.progress import Progress

            self._bar = Progress(console=self._console, transient=True)
            self._bar.start()
            self._task = self._bar.add_task("compiling", total=total)
        self._bar.update(self._task, completed=done)

    def __exit__(self, *exc: object) -> None:
        if self._bar is not None:
            self._bar.stop()
