"""`wdk start`: start a run of a workflow function, optionally waiting for it."""

from __future__ import annotations

import argparse
import asyncio
import importlib
import json
import sys
from typing import Any

from wdk.cli import common
from wdk.cli.main import CommandError

HELP = "start a run of a workflow (MODULE:FUNC) and print its id; --wait runs it here"
EXAMPLES = """\
examples:
  wdk start shop.orders:checkout '["order_17"]'          # queue it; a worker runs it
  wdk start shop.orders:checkout '["o1"]' --kwargs '{"express": true}' --wait
  wdk start shop.orders:checkout '"o1"' --idempotency-key o1 --wait --timeout 60

ARGS_JSON is a JSON array of positional arguments; any other JSON value is
passed as the one argument. Without --wait the run is queued in the world and
the id printed; `wdk worker` (or any process using the world) runs it. With
--wait this process runs it and prints the result as JSON (the run id goes to
stderr); a failed or cancelled run exits with status 1.
"""


def register(subparsers: Any) -> None:
    """Add the `start` command."""
    parser = subparsers.add_parser(
        "start",
        help=HELP,
        description=f"wdk start: {HELP}.",
        epilog=EXAMPLES,
        formatter_class=common.formatter(),
        parents=[common.world_options()],
    )
    parser.add_argument(
        "target", metavar="MODULE:FUNC", help="the workflow, e.g. shop.orders:checkout"
    )
    parser.add_argument(
        "args_json", nargs="?", default=None, metavar="ARGS_JSON", help="positional arguments"
    )
    parser.add_argument(
        "--kwargs", default=None, metavar="JSON", help="keyword arguments as a JSON object"
    )
    parser.add_argument(
        "--wait", action="store_true", help="run it in this process and print the result"
    )
    parser.add_argument(
        "--timeout", type=float, default=None, metavar="SECONDS", help="with --wait: give up after"
    )
    parser.add_argument(
        "--idempotency-key",
        default=None,
        metavar="KEY",
        help="a second start returns the first run",
    )
    parser.set_defaults(func=run_start)


def run_start(args: argparse.Namespace) -> int:
    """Handler of `wdk start`."""
    call_args, call_kwargs = _parse_arguments(args.args_json, args.kwargs)
    return asyncio.run(_start(args, call_args, call_kwargs))


def _parse_arguments(
    args_json: str | None, kwargs_json: str | None
) -> tuple[list[Any], dict[str, Any]]:
    args: list[Any] = []
    kwargs: dict[str, Any] = {}
    if args_json is not None:
        value = _json_arg(args_json, "ARGS_JSON")
        args = value if isinstance(value, list) else [value]
    if kwargs_json is not None:
        value = _json_arg(kwargs_json, "--kwargs")
        if not isinstance(value, dict):
            raise CommandError(f"--kwargs must be a JSON object, got {type(value).__name__}")
        kwargs = value
    return args, kwargs


def _json_arg(text: str, name: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise CommandError(f"{name} is not valid JSON ({exc}): {text!r}") from None


def resolve_target(target: str) -> Any:
    """The workflow function named by MODULE:FUNC (FUNC may be dotted), or a full id string."""
    if target.startswith(("workflow//", "step//")):
        return target  # the loader says what a step id is
    module_name, sep, qualname = target.partition(":")
    if not sep or not module_name or not qualname:
        raise CommandError(f"expected MODULE:FUNC (like shop.orders:checkout), got {target!r}")
    try:
        obj: Any = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        raise CommandError(
            f"cannot import {module_name!r}: {exc} (run from your project folder, or pass --path DIR)"
        ) from None
    except Exception as exc:
        raise CommandError(
            f"importing {module_name!r} failed: {type(exc).__name__}: {exc}"
        ) from None
    for part in qualname.split("."):
        obj = getattr(obj, part, None)
        if obj is None:
            raise CommandError(f"module {module_name!r} has no {qualname!r}")
    return obj


async def _start(
    args: argparse.Namespace, call_args: list[Any], call_kwargs: dict[str, Any]
) -> int:
    from wdk.errors import WorkflowCancelled, WorkflowFailed

    common.setup(args)
    workflow = resolve_target(args.target)
    if not args.wait:
        async with common.client_runtime(args):
            run = await _start_run(workflow, call_args, call_kwargs, args.idempotency_key)
        print(run.id)
        return 0
    from wdk.runtime.engine import current_runtime

    try:
        run = await _start_run(workflow, call_args, call_kwargs, args.idempotency_key)
        print(f"started {run.id}", file=sys.stderr, flush=True)
        with _waiting(run.id):
            result = await run.result(timeout=args.timeout)
    except (WorkflowFailed, WorkflowCancelled) as exc:
        raise CommandError(str(exc)) from None
    except TimeoutError as exc:
        raise CommandError(
            f"{exc} (it goes on in the background: `wdk worker` resumes it)"
        ) from None
    finally:
        rt = current_runtime()
        if rt is not None:
            await rt.stop()
    print(_result_json(result))
    return 0


async def _start_run(
    workflow: Any, args: list[Any], kwargs: dict[str, Any], key: str | None
) -> Any:
    from wdk import api
    from wdk.errors import WdkError

    try:
        return await api.start_with(idempotency_key=key)(workflow, *args, **kwargs)
    except (WdkError, TypeError, SyntaxError) as exc:
        name, text = _name(workflow), str(exc)
        if text.startswith(name + "("):
            # The arguments do not fit: the message shows the signature already.
            raise CommandError(f"cannot start {text}") from None
        raise CommandError(f"cannot start {name}: {text}") from None


def _name(workflow: Any) -> str:
    return (
        workflow if isinstance(workflow, str) else getattr(workflow, "__qualname__", repr(workflow))
    )


def _result_json(result: Any) -> str:
    import msgspec

    return msgspec.json.encode(result, enc_hook=repr).decode()


class _waiting:
    """A spinner on stderr while the run goes, when stderr is a terminal."""

    def __init__(self, run_id: str) -> None:
        self._run_id = run_id
        self._status: Any = None

    def __enter__(self) -> None:
        from rich.console import Console

        err = Console(stderr=True)
        if err.is_terminal:
            self._status = err.status(f"running {self._run_id}")
            self._status.start()

    def __exit__(self, *exc: object) -> None:
        if self._status is not None:
            self._status.stop()
