"""`wdk worker`: run the runtime as a standalone process that advances runs."""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from typing import Any

HELP = "run workflows and steps from the queue until stopped (SIGTERM/Ctrl-C: graceful)"
EXAMPLES = """\
examples:
  wdk worker                              # the local world in ./.wdk
  wdk worker --data-dir /srv/app/.wdk     # another data dir
  WDK_WORLD=postgres WDK_POSTGRES_URL=postgresql://... wdk worker --concurrency 50
"""


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "worker",
        help=HELP,
        description=f"wdk worker: {HELP}.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--concurrency", type=int, default=None, metavar="N", help="runs advanced at once")
    parser.add_argument("--world", default=None, help="world name (default: $WDK_WORLD or local)")
    parser.add_argument("--data-dir", default=None, help="local world folder (default: $WDK_DATA_DIR or .wdk)")
    parser.add_argument(
        "--path", action="append", default=[], metavar="DIR",
        help="add a folder to sys.path so workflow modules can be found (default: the current folder)",
    )
    parser.add_argument("--quiet", "-q", action="store_true", help="no start/stop messages")
    parser.set_defaults(func=run_worker)


def run_worker(args: argparse.Namespace) -> int:
    import os

    for path in [*args.path, os.getcwd()]:
        if path not in sys.path:
            sys.path.insert(0, path)
    return asyncio.run(_serve(args))


async def _serve(args: argparse.Namespace) -> int:
    from wdk.compiler.hook import install_import_hook
    from wdk.runtime.config import configure, make_world
    from wdk.runtime.runtime import Runtime

    install_import_hook()
    configure(world=args.world, data_dir=args.data_dir)
    runtime = Runtime(make_world(), concurrency=args.concurrency)
    await runtime.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    if not args.quiet:
        print(f"wdk worker {runtime.owner} on the {runtime.world.name} world; Ctrl-C to stop", flush=True)
    await stop.wait()
    if not args.quiet:
        print("wdk worker: stopping (in-flight runs are handed back)", flush=True)
    await runtime.stop()
    return 0
