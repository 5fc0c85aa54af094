"""`wdk retry`: a run that failed in a step goes on from that step, same id."""

from __future__ import annotations

import argparse
import asyncio
from typing import Any

from wdk.cli import common
from wdk.cli.main import CommandError

HELP = "continue a run that failed because a step used up its retries (same run id)"
EXAMPLES = """\
examples:
  wdk retry wrun_0190a4c2f1e3b7...
  wdk retry wrun_0190a4c2f1e3b7... --data-dir /srv/app/.wdk

The failed step runs again with fresh retries and the run continues from
there: `run_resumed` in its log names the step. Steps that completed are not
run again. A run that failed in its workflow code (not in a step) cannot be
retried: `wdk rerun` starts it again with the same input.
"""


def register(subparsers: Any) -> None:
    """Add the `retry` command."""
    parser = subparsers.add_parser(
        "retry",
        help=HELP,
        description=f"wdk retry: {HELP}.",
        epilog=EXAMPLES,
        formatter_class=common.formatter(),
        parents=[common.world_options()],
    )
    parser.add_argument("run_id", metavar="RUN", help="the failed run")
    parser.set_defaults(func=run_retry)


def run_retry(args: argparse.Namespace) -> int:
    """Handler of `wdk retry`: 0 once the run is continued (a worker runs the step)."""
    return asyncio.run(_retry(args))


async def _retry(args: argparse.Namespace) -> int:
    async with common.client_runtime(args) as rt:
        await common.require_run(rt.world, args.run_id)
        try:
            step_id = await rt.retry(args.run_id)
        except ValueError as exc:
            raise CommandError(str(exc)) from None
    print(f"{args.run_id}: continued; {step_id} runs again")
    return 0
