"""`wdk schedules`: list the schedules with their next fire times; pause and resume them."""

from __future__ import annotations

import argparse
import asyncio
import json
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from wdk.cli import common
from wdk.cli.main import CommandError

HELP = "list cron schedules (wdk.schedule) with their next fire times; pause or resume one"
EXAMPLES = """\
examples:
  wdk schedules                       # every schedule a worker has run, next fire times
  wdk schedules --json
  wdk schedules pause weekly-report   # no runs until resumed (every worker obeys)
  wdk schedules resume weekly-report  # ticks missed while paused are not owed

A schedule is declared in code (wdk.schedule(...)) and listed here once a
worker, `wdk serve` or `wdk dev` that imports its module has run it.
"""


def register(subparsers: Any) -> None:
    """Add the `schedules` command."""
    parser = subparsers.add_parser(
        "schedules",
        help=HELP,
        description=f"wdk schedules: {HELP}.",
        epilog=EXAMPLES,
        formatter_class=common.formatter(),
        parents=[common.world_options(), common.json_option()],
    )
    parser.add_argument("action", nargs="?", choices=("list", "pause", "resume"), default="list")
    parser.add_argument("name", nargs="?", help="the schedule to pause or resume")
    parser.set_defaults(func=run_schedules)


def run_schedules(args: argparse.Namespace) -> int:
    """Handler of `wdk schedules`."""
    if args.action != "list" and not args.name:
        raise CommandError(f"wdk schedules {args.action} needs a schedule name")
    rows = asyncio.run(_act(args))
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    _table(rows)
    return 0


async def _act(args: argparse.Namespace) -> list[dict[str, Any]]:
    from wdk.runtime.schedules import describe, describe_all, set_paused

    async with common.open_world(args) as world:
        if args.action == "list":
            return await describe_all(world)
        try:
            state = await set_paused(world, args.name, args.action == "pause")
        except KeyError:
            raise CommandError(f"no schedule named {args.name!r} (see `wdk schedules`)") from None
        return [describe(state)]


def _when(at: float | None, tz: str) -> str:
    if at is None:
        return "-"
    return datetime.fromtimestamp(at, ZoneInfo(tz)).strftime("%Y-%m-%d %H:%M:%S %Z")


def _table(rows: list[dict[str, Any]]) -> None:
    from rich.table import Table

    out = common.console()
    if not rows:
        out.print("no schedules yet (a worker that imports a wdk.schedule(...) declaration lists it here)")
        return
    table = Table("name", "workflow", "cron", "tz", "overlap", "state", "next fire", "last tick")
    for r in rows:
        table.add_row(
            r["name"], r["workflow_id"], r["cron"], r["tz"], r["overlap"],
            "[yellow]paused[/]" if r["paused"] else "[green]active[/]",
            _when(r["next_fire"], r["tz"]), _when(r["last_tick"], r["tz"]),
        )
    out.print(table)
