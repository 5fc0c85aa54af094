"""`wdk rerun`: a new run with an earlier run's input, reusing its step results."""

from __future__ import annotations

import argparse
import asyncio
from typing import Any

from wdk.cli import common
from wdk.cli.main import CommandError

HELP = "start a new run with a run's input that reuses the results its steps recorded"
EXAMPLES = """\
examples:
  wdk rerun wrun_0190a4c2f1e3b7...                 # reuse every step that completed
  wdk rerun wrun_0190a4c2f1e3b7... --from-step 3   # reuse steps 1 and 2; run 3 on again

Steps count from 1 in the order the run called them (`wdk inspect steps RUN`).
The new run's first event names the run it reruns (`rerun_of`); a reused
step is recorded as completed with `reused_from`, and does not run again.
"""


def register(subparsers: Any) -> None:
    """Add the `rerun` command."""
    parser = subparsers.add_parser(
        "rerun",
        help=HELP,
        description=f"wdk rerun: {HELP}.",
        epilog=EXAMPLES,
        formatter_class=common.formatter(),
        parents=[common.world_options()],
    )
    parser.add_argument("run_id", metavar="RUN", help="the run to run again")
    parser.add_argument(
        "--from-step", type=int, default=None, metavar="N",
        help="run step N and later again (default: only the steps that did not complete)",
    )
    parser.set_defaults(func=run_rerun)


def run_rerun(args: argparse.Namespace) -> int:
    """Handler of `wdk rerun`: prints the new run's id."""
    return asyncio.run(_rerun(args))


async def _rerun(args: argparse.Namespace) -> int:
    from wdk.errors import WdkError

    async with common.client_runtime(args) as rt:
        await common.require_run(rt.world, args.run_id)
        try:
            run_id = await rt.rerun(args.run_id, args.from_step)
        except (ValueError, TypeError, WdkError) as exc:
            raise CommandError(str(exc)) from None
    print(run_id)
    return 0
