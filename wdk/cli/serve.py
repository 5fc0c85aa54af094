"""`wdk serve`: the runtime HTTP server (flow, step, webhook, stream, JSON API)."""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys
from typing import Any

from wdk.cli import common

HELP = "serve the runtime over HTTP: webhooks, streams, the JSON API; also works the queue"
EXAMPLES = """\
examples:
  wdk serve                                  # http://127.0.0.1:3000, local world in ./.wdk
  wdk serve --port 8080 --path src           # find workflow modules under src/
  WDK_API_TOKEN=... WDK_SECRET=... WDK_BASE_URL=https://app.example.com wdk serve --host 0.0.0.0

clients in other processes: WDK_API_TOKEN=<token> and
  wdk.api.configure(server_url="http://127.0.0.1:3000")
Without WDK_API_TOKEN a token is generated and printed once (docs/security.md).
"""


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "serve",
        help=HELP,
        description=f"wdk serve: {HELP}.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--host", default="127.0.0.1", help="interface to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=3000, help="port (default 3000; 0: any free port)")
    parser.add_argument("--world", default=None, help="world name (default: $WDK_WORLD or local)")
    parser.add_argument("--data-dir", default=None, help="local world folder (default: $WDK_DATA_DIR or .wdk)")
    parser.add_argument(
        "--path", action="append", default=[], metavar="DIR",
        help="add a folder to sys.path so workflow modules can be found (default: the current folder)",
    )
    common.add_import_option(parser)
    parser.add_argument("--quiet", "-q", action="store_true", help="no start/stop messages")
    parser.set_defaults(func=run_serve)


def run_serve(args: argparse.Namespace) -> int:
    for path in [*args.path, os.getcwd()]:
        if path not in sys.path:
            sys.path.insert(0, path)
    return asyncio.run(_serve(args))


async def _serve(args: argparse.Namespace) -> int:
    from wdk.compiler.import_hook import install_import_hook
    from wdk.runtime.config import configure
    from wdk.runtime.engine import current_runtime
    from wdk.runtime.logs import setup_logging
    from wdk.server.app import start_server
    from wdk.server.auth import load_api_token
    from wdk.server.signing import load_secret
    from wdk.settings import DEFAULT_BASE_URL, current_settings

    install_import_hook()
    # This process is the server: its own wdk.api calls must stay local.
    os.environ.pop("WDK_SERVER_URL", None)
    configure(world=args.world, data_dir=args.data_dir, server_url="")
    common.import_modules(args.imports)
    setup_logging(current_settings().log_format)
    secret, generated = load_secret()
    token, token_generated = load_api_token()
    server = await start_server(args.host, args.port, secret=secret, api_token=token)
    # Webhook URLs made by this process point at it unless configured otherwise.
    if current_settings().base_url == DEFAULT_BASE_URL:
        configure(base_url=server.url)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    if not args.quiet:
        rt = current_runtime()
        world = rt.world.name if rt is not None else "?"
        note = " (no WDK_SECRET: flow/step endpoints use a generated secret)" if generated else ""
        print(f"wdk serve on {server.url} with the {world} world{note}; Ctrl-C to stop", flush=True)
    if token_generated:
        # Printed even with --quiet: without it nobody can use the API.
        print(f"wdk serve: API token (no WDK_API_TOKEN set): {token}", flush=True)
    await stop.wait()
    if not args.quiet:
        print("wdk serve: stopping", flush=True)
    await server.close()
    rt = current_runtime()
    if rt is not None:
        await rt.stop()
    return 0
