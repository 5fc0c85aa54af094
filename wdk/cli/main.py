"""The `wdk` command: a small dispatcher over one module per command.

Each command lives in `wdk/cli/<name>.py` and exposes
`register(subparsers) -> None`, which adds its parser and sets
`func=<handler>`; the handler takes the parsed arguments and returns an exit
code. Command modules keep heavy imports (rich, libcst, the runtime) inside
their handlers so that `wdk --help` stays fast.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Callable

# Adding a command is one line here plus its module under wdk/cli/.
COMMANDS: list[str] = [
    "build",
    "worker",
    "start",
    "inspect",
    "cancel",
    "replay",
    "rerun",
    "retry",
    "serve",
    "dev",
    "web",
    "health",
    "schedules",
]

Handler = Callable[[argparse.Namespace], int]


class CommandError(Exception):
    """Raise from a command handler for a one-line error and exit status 1."""


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("wdk")
    except PackageNotFoundError:  # running from a source tree
        return "unknown"


def build_parser() -> argparse.ArgumentParser:
    """The top-level parser with every command in `COMMANDS` registered."""
    parser = argparse.ArgumentParser(
        prog="wdk",
        description="wdk: durable workflows for Python, by directive.",
        epilog="example: wdk build src/ --tree",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"wdk {_version()}")
    subparsers = parser.add_subparsers(title="commands", metavar="COMMAND")
    for name in COMMANDS:
        module = importlib.import_module(f"wdk.cli.{name}")
        module.register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run `wdk` with `argv` (default: `sys.argv[1:]`) and return its exit code."""
    try:
        return _main(argv)
    except BrokenPipeError:
        # The reader went away (`wdk inspect runs --json | head -1`): stop
        # quietly, as a tool killed by SIGPIPE would, with no traceback.
        # Python flushes stdout once more at exit: point it at /dev/null.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 141  # 128 + SIGPIPE, what a shell reports for such a tool


def _main(argv: list[str] | None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exit_:  # --help, --version, usage errors
        return exit_.code if isinstance(exit_.code, int) else 1
    handler: Handler | None = getattr(args, "func", None)
    if handler is None:
        parser.print_help()
        return 2
    try:
        return handler(args)
    except CommandError as err:
        print(f"wdk: error: {err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("wdk: interrupted", file=sys.stderr)
        return 130


def run() -> None:
    """Console-script style entry: exit the process with `main()`'s code."""
    sys.exit(main())
