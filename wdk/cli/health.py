"""`wdk health`: is a wdk server (or the world itself) able to work? Exit 0 or 1."""

from __future__ import annotations

import argparse
import asyncio
import json
from typing import Any

from wdk.cli import common
from wdk.settings import current_settings

HELP = "check a wdk server's health endpoint (or the world directly): exit 0 when healthy, 1 if not"
DEFAULT_URL = "http://127.0.0.1:3000"
EXAMPLES = f"""\
examples:
  wdk health                          # the server at $WDK_SERVER_URL or {DEFAULT_URL}
  wdk health --url http://app:8000    # an app with a wdk plugin
  wdk health --direct                 # no server: query the configured world itself
  wdk health --direct --world postgres
  wdk health --json                   # the endpoint's JSON report

Healthy: the world answers, and the queue consumer (where the process runs
one) is alive. The endpoint is GET /.well-known/workflow/v1/health: 200, or
503 with a reason; it needs no token.
"""


def register(subparsers: Any) -> None:
    """Add the `health` command."""
    parser = subparsers.add_parser(
        "health",
        help=HELP,
        description=f"wdk health: {HELP}.",
        epilog=EXAMPLES,
        formatter_class=common.formatter(),
        parents=[common.world_options(), common.json_option()],
    )
    target = parser.add_mutually_exclusive_group()
    target.add_argument(
        "--url", default=None, help=f"the server (default: $WDK_SERVER_URL or {DEFAULT_URL})"
    )
    target.add_argument(
        "--direct",
        action="store_true",
        help="no server: check the configured world (--world, --data-dir) from this process",
    )
    parser.add_argument(
        "--timeout", type=float, default=10.0, metavar="S", help="seconds to wait (default: 10)"
    )
    parser.set_defaults(func=run_health)


def run_health(args: argparse.Namespace) -> int:
    """Handler of `wdk health`: 0 when healthy, else 1."""
    if args.direct:
        report = asyncio.run(_world_report(args))
    else:
        url = (args.url or current_settings().server_url or DEFAULT_URL).rstrip("/")
        report = asyncio.run(_server_report(url, args.timeout))
    ok = report.get("status") == "ok"
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        _print(report, ok)
    return 0 if ok else 1


async def _server_report(url: str, timeout: float) -> dict[str, Any]:
    import aiohttp

    from wdk.runtime.health import HEALTH_PATH

    target = url + HEALTH_PATH
    try:
        async with (
            aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=timeout)) as session,
            session.get(target) as resp,
        ):
            raw = await resp.read()
            status = resp.status
    except (aiohttp.ClientError, TimeoutError, OSError) as exc:
        return {"status": "unavailable", "reason": f"cannot reach {target}: {exc or type(exc).__name__}"}
    try:
        report: dict[str, Any] = json.loads(raw)
    except ValueError:
        report = {"status": "unavailable", "reason": f"{target} answered {status} without a JSON report"}
    if status != 200:
        report["status"] = "unavailable"
    return report


async def _world_report(args: argparse.Namespace) -> dict[str, Any]:
    from wdk.runtime.health import check_health

    async with common.client_runtime(args) as rt:
        return (await check_health(rt, timeout=args.timeout)).to_json()


def _print(report: dict[str, Any], ok: bool) -> None:
    out = common.console()
    if not ok:
        out.print(f"[red]unavailable[/]: {report.get('reason') or 'no reason given'}")
        return
    world = report.get("world") or {}
    consumer = report.get("queue_consumer") or {}
    out.print(
        f"[green]ok[/]: {world.get('name', '?')} world {world.get('detail', '')}; "
        f"queue consumer: {consumer.get('detail', '?')}"
    )
