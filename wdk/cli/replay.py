"""`wdk replay`: re-run a run's history against the current code."""

from __future__ import annotations

import argparse
import asyncio
from typing import TYPE_CHECKING, Any

from wdk.cli import common
from wdk.cli.main import CommandError

if TYPE_CHECKING:
    from wdk.worlds.base import Event

HELP = "re-run a run's history against the current code and report the first divergence"
EXAMPLES = """\
examples:
  wdk replay wrun_0190a4c2f1e3...                   # a run in the local world in ./.wdk
  wdk replay wrun_0190a4c2f1e3... --save h.json     # also keep its history as a file
  wdk replay --history h.json --path src --json     # replay a saved history; its workflows are in src/
  wdk replay --history tests/histories/checkout_sequential.json --path tests/e2e  # in wdk's repository

Nothing is written and no step runs: recorded step results are fed back to the
workflow. Exit status 0 when the history replays cleanly, 1 on a divergence
(a NonDeterminismError: the call the history has, the call the code made, and
the workflow's file:line).
"""


def register(subparsers: Any) -> None:
    """Add the `replay` command."""
    parser = subparsers.add_parser(
        "replay",
        help=HELP,
        description=f"wdk replay: {HELP}.",
        epilog=EXAMPLES,
        formatter_class=common.formatter(),
        parents=[common.world_options(), common.json_option()],
    )
    parser.add_argument(
        "run_id", nargs="?", default=None, metavar="RUN", help="run id (or use --history)"
    )
    parser.add_argument(
        "--history", default=None, metavar="FILE", help="replay a history file instead"
    )
    parser.add_argument(
        "--save", default=None, metavar="FILE", help="write the run's history to FILE"
    )
    parser.set_defaults(func=run_replay)


def run_replay(args: argparse.Namespace) -> int:
    """Handler of `wdk replay`: 0 when the history replays cleanly, 1 on a divergence."""
    from wdk.errors import CompileError, WdkError
    from wdk.runtime.replay import dump_history, load_history, replay_events

    if (args.run_id is None) == (args.history is None):
        raise CommandError("give a run id or --history FILE (one of them)")
    secret = b""  # a history file has no store: its random stream is not the run's
    if args.history is not None:
        common.setup(args)
        try:
            events = load_history(args.history)
        except (OSError, ValueError) as exc:
            raise CommandError(str(exc)) from None
    else:
        events, secret = asyncio.run(_read(args))
    if args.save:
        dump_history(events, args.save)
    try:
        report = replay_events(events, store_secret=secret)
    except CompileError as exc:
        raise CommandError(f"the workflow's code does not compile:\n{exc}") from None
    except (WdkError, ImportError, SyntaxError, ValueError) as exc:
        raise CommandError(f"cannot load the workflow to replay: {exc}") from None
    if args.json:
        common.print_json(report.as_dict())
    else:
        from rich.text import Text

        style = "green" if report.ok else "red"
        head, _, rest = report.format().partition("\n")
        out = common.console()
        out.print(Text(head, style=f"bold {style}"))
        if rest:
            out.print(Text(rest))
    return 0 if report.ok else 1


async def _read(args: argparse.Namespace) -> tuple[list[Event], bytes]:
    async with common.open_world(args) as world:
        await common.require_run(world, args.run_id)
        return await world.read_events(args.run_id), await world.store_secret()
