"""`wdk inspect`: read-only views of runs, steps, events, hooks and streams.

Opens the world directly (no queue consumer, no reconciler), so it is safe to
run next to workers: it never takes or delays their work.
"""

from __future__ import annotations

import argparse
import asyncio
import re
from typing import TYPE_CHECKING, Any

import msgspec

from wdk.cli import common
from wdk.cli.main import CommandError

if TYPE_CHECKING:
    from rich.table import Table

    from wdk.worlds.base import RunInfo, StepInfo, StreamChunk, StreamInfo, WaitInfo, World

HELP = "show runs, a run's steps as a tree, its events, hooks or streams (read-only)"
EXAMPLES = """\
examples:
  wdk inspect runs                                   # newest 20 runs
  wdk inspect runs --status failed --workflow shop.orders:checkout --limit 50
  wdk inspect run wrun_0190a4c2f1e3...               # the run as a tree of its steps and waits
  wdk inspect steps wrun_0190a4c2f1e3... --json
  wdk inspect events wrun_0190a4c2f1e3...
  wdk inspect hooks                                  # every live hook
  wdk inspect streams wrun_0190a4c2f1e3...           # the run's stream namespaces
  wdk inspect streams wrun_0190a4c2f1e3... --namespace progress
"""

_VIEWS = {
    "runs": "list runs, newest first",
    "run": "one run: its steps (timing, status, attempts) and waits as a tree",
    "steps": "a run's steps",
    "events": "a run's event log",
    "hooks": "hooks (of one run, or all live ones)",
    "streams": "a run's streams (namespace, chunks, open/closed), or one stream's chunks",
}


def register(subparsers: Any) -> None:
    """Add `inspect` and its views."""
    parser = subparsers.add_parser(
        "inspect",
        help=HELP,
        description=f"wdk inspect: {HELP}.",
        epilog=EXAMPLES,
        formatter_class=common.formatter(),
    )
    views = parser.add_subparsers(title="views", metavar="VIEW")
    parents = [common.world_options(), common.json_option()]
    made = {}
    for name, text in _VIEWS.items():
        made[name] = views.add_parser(
            name,
            help=text,
            description=f"wdk inspect {name}: {text}.",
            epilog=EXAMPLES,
            formatter_class=common.formatter(),
            parents=parents,
        )
        made[name].set_defaults(func=run_inspect, view=name)
    runs = made["runs"]
    runs.add_argument(
        "--status", default=None, choices=["pending", "running", "blocked", "completed", "failed", "cancelled"]
    )
    runs.add_argument("--workflow", default=None, metavar="WF", help="MODULE:FUNC or a workflow id")
    runs.add_argument(
        "--limit", type=int, default=20, metavar="N", help="at most N runs (default 20)"
    )
    runs.add_argument("--cursor", default=None, help="continue a previous listing")
    for name in ("run", "steps", "events", "streams"):
        made[name].add_argument("run_id", metavar="RUN", help="run id")
    made["hooks"].add_argument(
        "run_id", nargs="?", default=None, metavar="RUN", help="only this run's hooks"
    )
    made["hooks"].add_argument("--all", action="store_true", help="disposed hooks too")
    made["streams"].add_argument(
        "--namespace",
        default=None,
        metavar="NAME",
        help="show this stream's chunks (without it: list the run's streams)",
    )
    parser.set_defaults(func=_usage(parser))


def _usage(parser: argparse.ArgumentParser) -> Any:
    def usage(_args: argparse.Namespace) -> int:
        parser.print_help()
        return 2

    return usage


def run_inspect(args: argparse.Namespace) -> int:
    """Handler of every `wdk inspect` view."""
    return asyncio.run(_inspect(args))


async def _inspect(args: argparse.Namespace) -> int:
    async with common.open_world(args) as world:
        view = _HANDLERS[args.view]
        await view(world, args)
    return 0


# --- runs --------------------------------------------------------------------------------


async def _runs(world: World, args: argparse.Namespace) -> None:
    from wdk.runtime.blocking import run_facts

    if args.limit < 1:
        raise CommandError("--limit must be at least 1")
    workflow_id = common.workflow_id_from(args.workflow) if args.workflow else None
    page = await world.list_runs(
        status=args.status, workflow_id=workflow_id, limit=args.limit, cursor=args.cursor
    )
    runs: list[RunInfo] = page.items
    facts = [await run_facts(world, run) for run in runs]
    if args.json:
        rows = [{**msgspec.to_builtins(run), **f} for run, f in zip(runs, facts, strict=True)]
        common.print_json({"runs": rows, "next_cursor": page.next_cursor})
        return
    out = common.console()
    if not runs:
        out.print("no runs" + (" match" if args.status or workflow_id else ""))
        return
    table = _table("run", "workflow", "status", "created", "duration", "code")
    for run, fact in zip(runs, facts, strict=True):
        table.add_row(
            run.id,
            common.short_workflow(run.workflow_id),
            common.styled(run.status),
            common.fmt_time(run.created_at),
            common.fmt_duration(common.run_duration(run)),
            str(fact["code_version"] or "-"),
        )
    out.print(table)
    if page.next_cursor:
        out.print(f"[dim]more: --cursor {page.next_cursor}[/]")


# --- one run as a tree ---------------------------------------------------------------------


async def _run(world: World, args: argparse.Namespace) -> None:
    from rich.markup import escape
    from rich.tree import Tree

    from wdk.runtime.blocking import run_facts

    run = await common.require_run(world, args.run_id)
    steps = await world.list_steps(run.id)
    waits = await world.list_waits(run.id)
    hooks = await world.list_hooks(run.id)
    facts = await run_facts(world, run)
    if args.json:
        common.print_json({"run": {**msgspec.to_builtins(run), **facts}, "steps": steps, "waits": waits, "hooks": hooks})
        return
    origin = run.created_at
    label = (
        f"[bold]{run.id}[/] {common.short_workflow(run.workflow_id)} {common.styled(run.status)}"
        f" [dim]created {common.fmt_time(run.created_at)}, {common.fmt_duration(common.run_duration(run))}"
        f", code {facts['code_version'] or '-'}[/]"
    )
    tree = Tree(label)
    if facts["rerun_of"]:
        tree.add(f"[dim]rerun of {facts['rerun_of']}[/]")
    divergence = facts["divergence"]
    if divergence:
        # Why it is blocked: what its history has, what the code does instead, and where.
        node = tree.add(f"[bold yellow]blocked[/] {escape(str(divergence.get('message', '')))}")
        node.add(f"history has: {escape(str(divergence.get('expected') or '-'))}")
        node.add(f"code called: {escape(str(divergence.get('actual') or '-'))}")
        if divergence.get("location"):
            node.add(f"at {escape(str(divergence['location']))}")
        node.add(f"[dim]code version {divergence.get('code_version')}: it resumes once code that replays it runs[/]")
    calls: list[tuple[int, str, str]] = [
        (_position(s.correlation_id), s.correlation_id, _step_line(s, origin)) for s in steps
    ]
    calls += [(_position(w.correlation_id), w.correlation_id, _wait_line(w, origin)) for w in waits]
    for _, _, line in sorted(calls):
        tree.add(line)
    for hook in hooks:
        tree.add(f"[blue]hook[/] {hook.token} {common.styled(hook.status)}")
    if run.status == "completed":
        tree.add(f"[green]result[/] {_compact(run.output)}")
    elif run.error:
        error = run.error
        tree.add(f"[red]error[/] {_type(error.get('type'))}: {error.get('message', '')}")
    if not calls and not hooks and run.status in ("pending", "running", "blocked"):
        tree.add("[dim](no steps yet)[/]")
    common.console().print(tree)


def _position(correlation_id: str) -> int:
    """Call order from a correlation id like `step_3_9f2c...`."""
    match = re.match(r"[a-z]+_(\d+)_", correlation_id)
    return int(match.group(1)) if match else 0


def _offset(at: float | None, origin: float) -> str:
    return "" if at is None else f"+{common.fmt_duration(max(0.0, at - origin))}"


def _step_line(step: StepInfo, origin: float) -> str:
    begin = step.started_at or step.created_at
    took = step.completed_at - begin if step.completed_at is not None else None
    attempts = f"{step.attempt} attempt{'s' if step.attempt != 1 else ''}"
    line = (
        f"[green]step[/] {_short_step(step.step_id)} {common.styled(step.status)} "
        f"[dim]{_offset(begin, origin)}[/] {common.fmt_duration(took) if took is not None else ''} "
        f"[dim]{attempts} · {step.correlation_id}[/]"
    )
    if step.error and step.status in ("failed", "retrying"):
        line += f"\n[red]{_type(step.error.get('type'))}: {step.error.get('message', '')}[/]"
    return line


def _wait_line(wait: WaitInfo, origin: float) -> str:
    return (
        f"[magenta]sleep[/] until {common.fmt_time(wait.resume_at)} ({_offset(wait.resume_at, origin)})"
        f" {common.styled(wait.status)} [dim]{wait.correlation_id}[/]"
    )


def _short_step(step_id: str) -> str:
    parts = step_id.split("//")
    return parts[2] if len(parts) == 3 else step_id


def _type(name: object) -> str:
    return str(name or "Error").rsplit(".", 1)[-1]


def _compact(value: Any, limit: int = 100) -> str:
    from rich.markup import escape

    text = msgspec.json.encode(value, enc_hook=repr).decode()
    return escape(text if len(text) <= limit else text[: limit - 1] + "…")


def _table(*columns: str) -> Table:
    from rich.table import Table

    table = Table(box=None, header_style="bold", pad_edge=False)
    for column in columns:
        table.add_column(column, no_wrap=column in ("run", "seq", "token"))
    return table


# --- steps, events, hooks, streams -------------------------------------------------------------


async def _steps(world: World, args: argparse.Namespace) -> None:
    run = await common.require_run(world, args.run_id)
    steps = sorted(await world.list_steps(run.id), key=lambda s: _position(s.correlation_id))
    if args.json:
        common.print_json(steps)
        return
    table = _table("#", "step", "status", "attempts", "started", "duration", "error")
    for step in steps:
        begin = step.started_at or step.created_at
        took = step.completed_at - begin if step.completed_at is not None else None
        error = (
            f"{_type(step.error.get('type'))}: {step.error.get('message', '')}"
            if step.error
            else ""
        )
        table.add_row(
            str(_position(step.correlation_id)),
            _short_step(step.step_id),
            common.styled(step.status),
            str(step.attempt),
            _offset(begin, run.created_at),
            common.fmt_duration(took),
            error,
        )
    _print_table(table, len(steps), "steps")


async def _events(world: World, args: argparse.Namespace) -> None:
    run = await common.require_run(world, args.run_id)
    events = await world.read_events(run.id)
    if args.json:
        common.print_json(events)
        return
    table = _table("seq", "time", "type", "correlation", "payload")
    for event in events:
        table.add_row(
            str(event.seq),
            _offset(event.at, run.created_at),
            event.type,
            event.correlation_id or "",
            _compact(event.payload) if event.payload else "",
        )
    _print_table(table, len(events), "events")


async def _hooks(world: World, args: argparse.Namespace) -> None:
    if args.run_id is not None:
        await common.require_run(world, args.run_id)
    status = None if args.all or args.run_id else "active"
    hooks = await world.list_hooks(args.run_id, status=status)
    if args.json:
        common.print_json(hooks)
        return
    table = _table("token", "run", "status", "created")
    for hook in hooks:
        table.add_row(
            hook.token, hook.run_id, common.styled(hook.status), common.fmt_time(hook.created_at)
        )
    _print_table(table, len(hooks), "hooks" if status is None else "live hooks")


async def _streams(world: World, args: argparse.Namespace) -> None:
    from wdk.runtime import serde

    run = await common.require_run(world, args.run_id)
    streams = await world.list_streams(run.id)
    if args.namespace is None:
        _list_streams(streams, args.json)
        return
    if not any(s.namespace == args.namespace for s in streams):
        names = ", ".join(repr(s.namespace) for s in streams) or "none"
        raise CommandError(
            f"run {run.id} has no stream namespace {args.namespace!r} (its streams: {names})"
        )
    chunks: list[tuple[int, Any]] = []
    start, closed = 0, False
    while True:
        page, closed = await world.stream_read(run.id, args.namespace, start)
        chunks += [(c.index, _decode_chunk(serde, c)) for c in page]
        if not page:
            break
        start = page[-1].index + 1
    if args.json:
        common.print_json(
            {
                "namespace": args.namespace,
                "closed": closed,
                "chunks": [{"index": i, "value": v} for i, v in chunks],
            }
        )
        return
    table = _table("index", "chunk")
    for index, value in chunks:
        table.add_row(str(index), _compact(value, 160))
    state = "closed" if closed else "open"
    _print_table(table, len(chunks), f"chunks in stream {args.namespace!r} ({state})")


def _list_streams(streams: list[StreamInfo], as_json: bool) -> None:
    if as_json:
        common.print_json({"streams": streams})
        return
    table = _table("namespace", "chunks", "state")
    for stream in streams:
        table.add_row(stream.namespace, str(stream.length), "closed" if stream.closed else "open")
    _print_table(table, len(streams), "streams (show one with --namespace NAME)")


def _decode_chunk(serde: Any, chunk: StreamChunk) -> Any:
    if chunk.rollback is not None:  # chunks of a failed or dead step attempt, taken back
        return {"rollback": [list(r) for r in chunk.rollback]}
    try:
        return serde.loads(chunk.data)
    except Exception:
        return chunk.data.decode("utf-8", "replace")


def _print_table(table: Table, count: int, what: str) -> None:
    out = common.console()
    if count:
        out.print(table)
    out.print(f"[dim]{count} {what}[/]")


_HANDLERS = {
    "runs": _runs,
    "run": _run,
    "steps": _steps,
    "events": _events,
    "hooks": _hooks,
    "streams": _streams,
}
