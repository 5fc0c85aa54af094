"""`wdk cancel`: cancel a run (it ends `cancelled`, wherever it was)."""

from __future__ import annotations

import argparse
import asyncio
from typing import Any

from wdk.cli import common

HELP = "cancel a run: it ends `cancelled` whether it sleeps, waits or runs a step"
EXAMPLES = """\
examples:
  wdk cancel wrun_0190a4c2f1e3b7...          # in the local world in ./.wdk
  wdk cancel wrun_0190a4c2f1e3b7... --data-dir /srv/app/.wdk

A run that already ended is left as it is (exit status 0, with a note).
The worker running the run sees the cancel at its next write and stops.
"""


def register(subparsers: Any) -> None:
    """Add the `cancel` command."""
    parser = subparsers.add_parser(
        "cancel",
        help=HELP,
        description=f"wdk cancel: {HELP}.",
        epilog=EXAMPLES,
        formatter_class=common.formatter(),
        parents=[common.world_options()],
    )
    parser.add_argument("run_ids", nargs="+", metavar="RUN", help="run id(s)")
    parser.set_defaults(func=run_cancel)


def run_cancel(args: argparse.Namespace) -> int:
    """Handler of `wdk cancel`: 0 when every run is cancelled (or had ended)."""
    return asyncio.run(_cancel(args))


async def _cancel(args: argparse.Namespace) -> int:
    async with common.client_runtime(args) as rt:
        for run_id in args.run_ids:
            before = await common.require_run(rt.world, run_id)
            if before.status in ("completed", "failed", "cancelled"):
                print(f"{run_id}: already {before.status}; nothing to cancel")
                continue
            await rt.cancel(run_id)
            after = await rt.world.get_run(run_id)
            status = after.status if after is not None else "cancelled"
            if status != "cancelled":  # it ended on its own first
                print(f"{run_id}: ended {status} before the cancel was recorded")
                continue
            print(f"{run_id}: cancelled")
    return 0
