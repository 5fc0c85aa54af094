"""`wdk web`: the observability UI over the world (read-only, plus cancel)."""

from __future__ import annotations

import argparse
import asyncio
import signal
from typing import Any

from wdk.cli import common
from wdk.cli.main import CommandError

HELP = "the observability UI in a browser: runs, each run's timeline, events and streams"
EXAMPLES = """\
examples:
  wdk web                                    # http://127.0.0.1:3001, local world in ./.wdk
  wdk web --port 8080 --data-dir /srv/app/.wdk
  WDK_WORLD=postgres WDK_POSTGRES_URL=postgresql://... wdk web

It needs a token: WDK_API_TOKEN, else one is generated and printed once as a
login URL (http://127.0.0.1:3001/?token=...). See docs/security.md.
It only reads the world (and appends run_cancelled for the Cancel button):
run it next to `wdk worker` or `wdk serve`, which advance the runs.
"""


def register(subparsers: Any) -> None:
    """Add the `web` command."""
    parser = subparsers.add_parser(
        "web",
        help=HELP,
        description=f"wdk web: {HELP}.",
        epilog=EXAMPLES,
        formatter_class=common.formatter(),
        parents=[common.world_options()],
    )
    parser.add_argument("--host", default="127.0.0.1", help="interface to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=3001, help="port (default 3001; 0: any free port)")
    parser.add_argument("--quiet", "-q", action="store_true", help="no start/stop messages")
    parser.set_defaults(func=run_web)


def run_web(args: argparse.Namespace) -> int:
    """Handler of `wdk web`: serve until SIGINT/SIGTERM."""
    return asyncio.run(_web(args))


async def _web(args: argparse.Namespace) -> int:
    from wdk.errors import WorldError
    from wdk.runtime.engine import get_runtime, shutdown_runtime
    from wdk.server.app import start_server
    from wdk.server.auth import load_api_token, login_url
    from wdk.web import create_app

    common.setup(args)
    try:
        # Client-only before the app asks: this process must never work the queue.
        rt = await get_runtime(consume=False)
    except WorldError as exc:
        raise CommandError(str(exc)) from None
    try:
        try:
            token, generated = load_api_token()
            server = await start_server(args.host, args.port, app=create_app(api_token=token))
        except OSError as exc:
            raise CommandError(f"cannot listen on {args.host}:{args.port}: {exc.strerror or exc}") from None
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        if not args.quiet:
            print(f"wdk web on {server.url} with the {rt.world.name} world; Ctrl-C to stop", flush=True)
        if generated:
            # Printed even with --quiet, as Jupyter does: the only way in.
            print(f"wdk web: log in at {login_url(server.url, token)}", flush=True)
        elif not args.quiet:
            print(f"wdk web: log in at {login_url(server.url, '<WDK_API_TOKEN>')}", flush=True)
        await stop.wait()
        if not args.quiet:
            print("wdk web: stopping", flush=True)
        await server.close()
    finally:
        await shutdown_runtime()
    return 0
