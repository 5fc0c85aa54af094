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
  wdk replay --all                                  # the deploy gate: every live run vs this code
  wdk replay --all --status running,blocked --workflow workflow//shop//checkout

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
    parser.add_argument(
        "--all", action="store_true", help="replay every matching run (the deploy gate; exit 1 on any divergence)"
    )
    parser.add_argument(
        "--status", default=None, metavar="S,S", help="with --all: statuses to replay (default pending,running,blocked)"
    )
    parser.add_argument(
        "--workflow", default=None, metavar="ID", help="with --all: only runs of this workflow id"
    )
    parser.set_defaults(func=run_replay)


def run_replay(args: argparse.Namespace) -> int:
    """Handler of `wdk replay`: 0 when the history replays cleanly, 1 on a divergence."""
    from wdk.errors import CompileError, WdkError
    from wdk.runtime.replay import dump_history, load_history, replay_events

    if args.all:
        if args.run_id is not None or args.history is not None:
            raise CommandError("--all replays every matching run: give no run id or --history with it")
        return _replay_all(args)
    if args.status is not None or args.workflow is not None:
        raise CommandError("--status and --workflow go with --all")
    if (args.run_id is None) == (args.history is None):
        raise CommandError("give a run id or --history FILE (one of them), or --all")
    if args.history is not None:
        common.setup(args)
        try:
            events = load_history(args.history)
        except (OSError, ValueError) as exc:
            raise CommandError(str(exc)) from None
    else:
        events = asyncio.run(_read(args))
    if args.save:
        dump_history(events, args.save)
    try:
        report = replay_events(events)
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


async def _read(args: argparse.Namespace) -> list[Event]:
    async with common.open_world(args) as world:
        await common.require_run(world, args.run_id)
        return await world.read_events(args.run_id)


def _replay_all(args: argparse.Namespace) -> int:
    """`wdk replay --all`: one line per run, ok or its first divergence; 1 on any divergence."""
    from wdk.runtime.replay import LIVE_STATUSES

    statuses = LIVE_STATUSES
    if args.status is not None:
        statuses = tuple(s.strip() for s in args.status.split(",") if s.strip())
        known = ("pending", "running", "blocked", "completed", "failed", "cancelled")
        unknown = [s for s in statuses if s not in known]
        if unknown or not statuses:
            raise CommandError(f"--status takes some of {', '.join(known)}, not {args.status!r}")
    ok, diverged, reports = asyncio.run(_gate(args, statuses))
    if args.json:
        common.print_json({"ok": ok, "diverged": diverged, "runs": reports})
    else:
        common.console().print(
            f"{ok + diverged} runs replayed: {ok} ok, {diverged} diverged",
            style="bold green" if not diverged else "bold red",
        )
    return 1 if diverged else 0


async def _gate(args: argparse.Namespace, statuses: tuple[str, ...]) -> tuple[int, int, list[dict[str, Any]]]:
    from rich.markup import escape

    from wdk.runtime.replay import replay_runs

    ok = diverged = 0
    reports: list[dict[str, Any]] = []
    out = common.console()
    async with common.open_world(args) as world:
        async for report in replay_runs(world, statuses=statuses, workflow_id=args.workflow):
            if report.ok:
                ok += 1
            else:
                diverged += 1
            if args.json:
                reports.append(report.as_dict())
            elif report.ok:
                out.print(f"[green]ok[/]       {report.run_id}  {escape(report.workflow_id)}  ({report.events} events)")
            else:
                out.print(f"[red]DIVERGES[/] {report.run_id}  {escape(report.workflow_id)}  at event {report.diverged_at}")
                out.print(escape(str(report.error)), markup=True)
    return ok, diverged, reports
