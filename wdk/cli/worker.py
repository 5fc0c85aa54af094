"""`wdk worker`: run the runtime as a standalone process that advances runs."""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from wdk.runtime.runtime import Runtime

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


async def start_worker(concurrency: int | None = None) -> Runtime:
    """The worker's runtime, started and installed as this loop's runtime: the
    one `get_runtime()` returns here, so a workflow that starts a child run
    uses it instead of opening the store a second time."""
    from wdk.runtime.config import make_world
    from wdk.runtime.runtime import Runtime, install_runtime

    runtime = Runtime(make_world(), concurrency=concurrency)
    await runtime.start()
    install_runtime(runtime)  # no await since start(): nothing could start another
    return runtime


async def _serve(args: argparse.Namespace) -> int:
    from wdk.compiler.hook import install_import_hook
    from wdk.runtime.config import configure
    from wdk.runtime.runtime import shutdown_runtime

    install_import_hook()
    configure(world=args.world, data_dir=args.data_dir)
    runtime = await start_worker(args.concurrency)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    if not args.quiet:
        print(f"wdk worker {runtime.owner} on the {runtime.world.name} world; Ctrl-C to stop", flush=True)
    await stop.wait()
    if not args.quiet:
        print("wdk worker: stopping (in-flight runs are handed back)", flush=True)
    await shutdown_runtime()
    return 0
