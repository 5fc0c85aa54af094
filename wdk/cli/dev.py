"""`wdk dev`: `wdk serve` (with its embedded worker), restarted when code changes."""

from __future__ import annotations

import argparse
import os
import signal
from typing import Any

from wdk.cli import common

HELP = "serve and work the queue like `wdk serve`, restarting when a .py file changes"
EXAMPLES = """\
examples:
  wdk dev                          # http://127.0.0.1:3000, watching the current folder
  wdk dev --port 8080 src          # watch src/ (and find workflow modules there)

Runs survive a restart: the new process picks them up from the world (./.wdk).
"""


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "dev",
        help=HELP,
        description=f"wdk dev: {HELP}.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("path", nargs="?", default=".", metavar="PATH", help="folder to watch (default: .)")
    parser.add_argument("--host", default="127.0.0.1", help="interface to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=3000, help="port (default 3000)")
    parser.add_argument("--world", default=None, help="world name (default: $WDK_WORLD or local)")
    parser.add_argument("--data-dir", default=None, help="local world folder (default: $WDK_DATA_DIR or .wdk)")
    common.add_import_option(parser)
    parser.set_defaults(func=run_dev)


def run_dev(args: argparse.Namespace) -> int:
    from watchfiles import PythonFilter, run_process

    from wdk.cli.main import CommandError

    path = os.path.abspath(args.path)
    if not os.path.isdir(path):
        raise CommandError(f"{args.path} is not a folder")
    serve_args = ["--host", args.host, "--port", str(args.port), "--path", path]
    for flag, value in (("--world", args.world), ("--data-dir", args.data_dir)):
        if value is not None:
            serve_args += [flag, value]
    for module in args.imports:
        serve_args += ["--import", module]
    print(f"wdk dev: watching {path} for .py changes", flush=True)
    from wdk.server.auth import load_api_token

    token, generated = load_api_token()
    if generated:
        # One token for every restart: the children inherit it.
        os.environ["WDK_API_TOKEN"] = token
        print(f"wdk dev: API token (no WDK_API_TOKEN set): {token}", flush=True)
    # Ctrl-C stops it even when SIGINT came ignored from whatever started it
    # (a pytest-xdist worker, `nohup`): Python then installs no handler itself.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    run_process(path, target=_serve, args=(serve_args,), callback=_reloading, watch_filter=PythonFilter())
    print("wdk dev: stopped", flush=True)
    return 0


def _reloading(changes: set[tuple[Any, str]]) -> None:
    shown = ", ".join(f"{change.name} {os.path.relpath(p)}" for change, p in sorted(changes, key=lambda c: c[1]))
    print(f"wdk dev: reloading ({shown})", flush=True)


def _serve(serve_args: list[str]) -> None:
    """The child process: `wdk serve`, always working the queue itself."""
    import sys

    from wdk.cli.main import main

    os.environ["WDK_EMBEDDED_WORKER"] = "1"
    sys.exit(main(["serve", *serve_args]))
