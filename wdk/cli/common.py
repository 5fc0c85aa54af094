"""What the run-facing commands share: world options, opening the world
without a queue consumer, and formatting of times and JSON.

`inspect`, `cancel` and `replay` only read (or append one event): they open
the world directly and never start the consumer an embedded runtime would,
so running them next to a worker never steals its work.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import time
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

import msgspec

from wdk.cli.main import CommandError

if TYPE_CHECKING:
    from rich.console import Console

    from wdk.runtime.engine import Runtime
    from wdk.worlds.base import RunInfo, World


def world_options() -> argparse.ArgumentParser:
    """A parent parser with --world, --data-dir and --path."""
    parent = argparse.ArgumentParser(add_help=False)
    parent.add_argument("--world", default=None, help="world name (default: $WDK_WORLD or local)")
    parent.add_argument(
        "--data-dir",
        default=None,
        metavar="DIR",
        help="local world folder (default: $WDK_DATA_DIR or .wdk)",
    )
    parent.add_argument(
        "--path",
        action="append",
        default=[],
        metavar="DIR",
        help="add a folder to sys.path to find workflow modules (the current folder always is)",
    )
    return parent


def json_option() -> argparse.ArgumentParser:
    """A parent parser with --json."""
    parent = argparse.ArgumentParser(add_help=False)
    parent.add_argument("--json", action="store_true", help="print JSON instead of tables")
    return parent


def add_import_option(parser: argparse.ArgumentParser) -> None:
    """--import MODULE (repeatable): modules imported at start-up."""
    parser.add_argument(
        "--import", action="append", default=[], metavar="MODULE", dest="imports",
        help="import MODULE at start-up (repeatable): its wdk.schedule(...) declarations fire "
        "from this process from then on",
    )


def import_modules(names: list[str]) -> None:
    """Import each module (with the import hook installed: client mode)."""
    import importlib

    for name in names:
        try:
            importlib.import_module(name)
        except Exception as exc:  # the user's module: any error while importing it
            raise CommandError(f"--import {name}: {type(exc).__name__}: {exc}") from None


def formatter() -> type[argparse.RawDescriptionHelpFormatter]:
    return argparse.RawDescriptionHelpFormatter


def setup(args: argparse.Namespace) -> None:
    """Put --path folders and the current folder on sys.path; apply --world/--data-dir."""
    from wdk.runtime.config import configure

    for path in [os.getcwd(), *reversed(getattr(args, "path", []))]:
        path = os.path.abspath(path)
        if path not in sys.path:
            sys.path.insert(0, path)
    configure(world=args.world, data_dir=args.data_dir)


@contextlib.asynccontextmanager
async def open_world(args: argparse.Namespace) -> AsyncIterator[World]:
    """The configured world, opened and closed; no queue consumer, no reconciler."""
    from wdk.errors import WorldError
    from wdk.runtime.config import make_world

    setup(args)
    try:
        world = make_world()
        await world.open()
    except WorldError as exc:
        raise CommandError(str(exc)) from None
    try:
        yield world
    finally:
        await world.close()


@contextlib.asynccontextmanager
async def client_runtime(args: argparse.Namespace) -> AsyncIterator[Runtime]:
    """A runtime that serves `wdk.api` calls in this loop but consumes no work:
    the API (start, cancel) writes to the world and a worker does the rest."""
    from wdk.errors import WorldError
    from wdk.runtime.engine import get_runtime, shutdown_runtime

    setup(args)
    try:
        rt = await get_runtime(consume=False)
    except WorldError as exc:
        raise CommandError(str(exc)) from None
    try:
        yield rt
    finally:
        await shutdown_runtime()


async def require_run(world: World, run_id: str) -> RunInfo:
    run = await world.get_run(run_id)
    if run is None:
        raise CommandError(f"no run with id {run_id!r} in the {world.name} world ({_where(world)})")
    return run


def _where(world: World) -> str:
    return str(getattr(world, "data_dir", "") or getattr(world, "url", "") or world.name)


# --- output ------------------------------------------------------------------------------


def console() -> Console:
    """stdout; wide when not a terminal so piped tables keep whole ids."""
    from rich.console import Console

    out = Console(highlight=False)
    return out if out.is_terminal else Console(highlight=False, width=200)


def print_json(data: Any) -> None:
    print(json.dumps(msgspec.to_builtins(data, enc_hook=repr), indent=2, default=str))


def short_workflow(workflow_id: str) -> str:
    """ "workflow//shop.orders//checkout" -> "shop.orders:checkout"."""
    parts = workflow_id.split("//")
    return f"{parts[1]}:{parts[2]}" if len(parts) == 3 else workflow_id


def workflow_id_from(text: str) -> str:
    """Accept "shop.orders:checkout" as well as a full id."""
    if "//" in text or ":" not in text:
        return text
    module, _, qualname = text.partition(":")
    return f"workflow//{module}//{qualname}"


def fmt_time(ts: float | None) -> str:
    if ts is None:
        return "-"
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(ts))


def fmt_duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    if seconds < 120:
        return f"{seconds:.2f} s"
    if seconds < 7200:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


STATUS_STYLE = {
    "pending": "yellow",
    "running": "cyan",
    "blocked": "bold yellow",
    "waiting": "cyan",
    "active": "cyan",
    "created": "yellow",
    "retrying": "magenta",
    "completed": "green",
    "failed": "red",
    "cancelled": "dim",
    "disposed": "dim",
}


def styled(status: str) -> str:
    style = STATUS_STYLE.get(status, "")
    return f"[{style}]{status}[/]" if style else status


def run_duration(run: RunInfo) -> float:
    """Start (or creation) to end; to now while the run is unfinished."""
    start = run.started_at or run.created_at
    end = run.completed_at
    if end is None:
        end = run.updated_at if run.status in ("completed", "failed", "cancelled") else time.time()
    return max(0.0, end - start)
