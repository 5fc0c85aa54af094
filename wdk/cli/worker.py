"""`wdk worker`: run the runtime as a standalone process that advances runs."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys
from typing import TYPE_CHECKING, Any

from wdk.cli import common
from wdk.cli.main import CommandError

if TYPE_CHECKING:
    from wdk.runtime.engine import Runtime

# Back-off while the store cannot be reached: 0.5 s, 1 s, 2 s ... up to 30 s.
OPEN_RETRY_FIRST = 0.5
OPEN_RETRY_MAX = 30.0

HELP = "run workflows and steps from the queue until stopped (SIGTERM/Ctrl-C: graceful)"
EXAMPLES = """\
examples:
  wdk worker                              # the local world in ./.wdk
  wdk worker --data-dir /srv/app/.wdk     # another data dir
  wdk worker --id orders-1                # a fixed id: restarted, it resumes its runs at once
  wdk worker --import app.reports         # fire the wdk.schedule(...) declarations of app.reports
  WDK_WORLD=postgres WDK_POSTGRES_URL=postgresql://... wdk worker --concurrency 50
  wdk worker --metrics-port 9464 --metrics-host 0.0.0.0   # Prometheus scrapes :9464/metrics
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
    parser.add_argument(
        "--id", default=None, metavar="NAME", dest="worker_id",
        help="this worker's id, stable across restarts: a worker restarted with its id takes back "
        "its predecessor's runs at once; two live workers cannot share one "
        "(default: the lowest free <host>-<n>)",
    )
    common.add_import_option(parser)
    parser.add_argument(
        "--metrics-port", type=int, default=None, metavar="PORT",
        help="serve Prometheus metrics at http://HOST:PORT/metrics (0: any free port; default: none)",
    )
    parser.add_argument(
        "--metrics-host", default="127.0.0.1", metavar="HOST",
        help="interface of --metrics-port (default 127.0.0.1; 0.0.0.0 for a scraper on another machine)",
    )
    parser.add_argument("--quiet", "-q", action="store_true", help="no start/stop messages")
    parser.set_defaults(func=run_worker)


def run_worker(args: argparse.Namespace) -> int:
    import os

    from wdk.worlds.workers import check_id

    if args.worker_id is not None:
        try:
            check_id(args.worker_id)
        except ValueError as exc:
            raise CommandError(str(exc)) from None

    for path in [*args.path, os.getcwd()]:
        if path not in sys.path:
            sys.path.insert(0, path)
    return asyncio.run(_serve(args))


async def start_worker(
    concurrency: int | None = None, stop: asyncio.Event | None = None, worker_id: str | None = None
) -> Runtime | None:
    """The worker's runtime, started and installed as this loop's runtime: the
    one `get_runtime()` returns here, so a workflow that starts a child run
    uses it instead of opening the store a second time. A store that cannot be
    reached yet is waited for (see `_open`); None when `stop` was set meanwhile."""
    from wdk.runtime.config import make_world
    from wdk.runtime.engine import Runtime, install_runtime
    from wdk.settings import current_settings

    settings = current_settings()
    runtime = Runtime(make_world(settings), concurrency=concurrency, worker_id=worker_id, settings=settings)
    if not await _open(runtime, stop or asyncio.Event()):
        return None
    install_runtime(runtime)  # no await since start(): nothing could start another
    return runtime


async def _serve(args: argparse.Namespace) -> int:
    from wdk.compiler.import_hook import install_import_hook
    from wdk.errors import WorldError
    from wdk.runtime.config import configure
    from wdk.runtime.engine import shutdown_runtime
    from wdk.runtime.logs import setup_logging
    from wdk.settings import current_settings

    install_import_hook()
    configure(world=args.world, data_dir=args.data_dir)
    common.import_modules(args.imports)
    setup_logging(current_settings().log_format)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        runtime = await start_worker(args.concurrency, stop, args.worker_id)
        if runtime is None:
            return 0  # stopped while waiting for the store
    except WorldError as exc:  # unusable for good: unwritable, corrupt, bad URL
        raise CommandError(str(exc)) from None
    metrics_server = None
    if args.metrics_port is not None:
        from wdk.server.app import start_server
        from wdk.server.observe import metrics_app

        try:
            metrics_server = await start_server(args.metrics_host, args.metrics_port, app=metrics_app(runtime))
        except OSError as exc:
            await shutdown_runtime()
            raise CommandError(f"cannot listen on {args.metrics_host}:{args.metrics_port}: {exc.strerror or exc}") from None
    if not args.quiet:
        print(f"wdk worker {runtime.owner} on the {runtime.world.name} world; Ctrl-C to stop", flush=True)
        if metrics_server is not None:
            print(f"wdk worker: metrics on {metrics_server.url}/metrics", flush=True)
    await stop.wait()
    if not args.quiet:
        print("wdk worker: stopping (in-flight runs are handed back)", flush=True)
    if metrics_server is not None:
        await metrics_server.close()
    await shutdown_runtime()
    return 0


async def _open(runtime: Runtime, stop: asyncio.Event) -> bool:
    """Start `runtime`, waiting out a store that cannot be reached yet (a
    database restarting, a connection dropped while opening) with back-off,
    one line per attempt. False when stopped before it opened."""
    from wdk.errors import WorldUnavailable

    _quiet_abandoned_connects(asyncio.get_running_loop())
    delay = OPEN_RETRY_FIRST
    while True:
        try:
            await runtime.start()
            return True
        except WorldUnavailable as exc:
            print(f"wdk worker: {exc}; retrying in {delay:g} s", file=sys.stderr, flush=True)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), delay)
            return False
        delay = min(delay * 2, OPEN_RETRY_MAX)


def _quiet_abandoned_connects(loop: asyncio.AbstractEventLoop) -> None:
    """asyncpg leaves a "Future exception was never retrieved" warning behind
    when a failed pool cancels its other connects: noise (with a traceback)
    after the one line that already said what failed. Drop exactly that one."""
    previous = loop.get_exception_handler()

    def handle(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        exc = context.get("exception")
        if (
            isinstance(exc, ConnectionError)
            and str(exc) == "unexpected connection_lost() call"
            and str(context.get("message", "")).startswith("Future exception was never retrieved")
        ):
            return
        if previous is not None:
            previous(loop, context)
        else:
            loop.default_exception_handler(context)

    loop.set_exception_handler(handle)
