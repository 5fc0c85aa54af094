"""The JSON API that `configure(server_url=...)` clients use.

    POST /api/runs                {"workflow": "module:func" | id, "args", "kwargs", "idempotency_key"?,
                                  "priority"?, "debounce"?: [window, key]}
                                  (400, type "TypeError", when the arguments do not fit the workflow)
    GET  /api/runs                ?status=&workflow=&limit=&cursor=&created_after=&created_before=
    GET  /api/runs/{id}           ?wait=<s>: hold until the run ends (at most 60 s)
    GET  /api/runs/{id}/events    ?after=&limit=
    POST /api/runs/{id}/cancel
    POST /api/runs/{id}/rerun     {"from_step": N | null}: a new run reusing earlier step results
    POST /api/runs/{id}/retry     a run failed by a step continues (same id)
    POST /api/hooks/{token}       {"payload": ...}
    GET  /api/hooks/{token}       the hook: run_id, created_at, open, ...
    GET  /api/schedules           every schedule: its cron, zone, next fire time, paused, ...
    POST /api/schedules/{name}/pause | /resume

Values (args, results, payloads) are in wdk's serde form: plain JSON is
itself, other types are tagged. A tagged class is only decoded when its
module is already imported here: a request never makes the server import
(and so run) a module it names. Likewise a workflow is found by file, and
only in a module that has directives.
"""

from __future__ import annotations

import os
import sys
from typing import Any

import msgspec
from aiohttp import web

from wdk.compiler import has_directive
from wdk.durations import parse_duration
from wdk.errors import RunNotFound, WorkflowNotFound
from wdk.protocol import BadRequest
from wdk.runtime import serde, tracing
from wdk.runtime.arguments import check_arguments
from wdk.runtime.blocking import run_facts
from wdk.runtime.engine import Runtime
from wdk.runtime.hooks import lookup_hook
from wdk.runtime.loader import split_id
from wdk.runtime.redact import redact_events, redact_run
from wdk.runtime.schedules import describe, describe_all, set_paused
from wdk.server.edge import RUNTIME, error_response, expect_handler, json_response
from wdk.server.handlers import json_object
from wdk.worlds.base import TERMINAL_STATUSES

MAX_WAIT = 60.0
STATUSES = ("pending", "running", "blocked", "completed", "failed", "cancelled")


def add_routes(app: web.Application) -> None:
    for method, path, handler in (
        ("POST", "/api/runs", start_run),
        ("GET", "/api/runs", list_runs),
        ("GET", "/api/runs/{run_id}", get_run),
        ("GET", "/api/runs/{run_id}/events", list_events),
        ("POST", "/api/runs/{run_id}/cancel", cancel_run),
        ("POST", "/api/runs/{run_id}/rerun", rerun_run),
        ("POST", "/api/runs/{run_id}/retry", retry_run),
        ("POST", "/api/hooks/{token}", resume_hook),
        ("GET", "/api/hooks/{token}", get_hook),
        ("GET", "/api/schedules", list_schedules),
        ("POST", "/api/schedules/{name}/pause", pause_schedule),
        ("POST", "/api/schedules/{name}/resume", resume_schedule),
    ):
        app.router.add_route(method, path, handler, expect_handler=expect_handler)


class StartBody(msgspec.Struct, forbid_unknown_fields=True):
    workflow: str
    args: list[Any] = []
    kwargs: dict[str, Any] = {}
    idempotency_key: str | None = None
    priority: int = 0
    debounce: tuple[str, str] | None = None  # (window, key)


# --- values ---------------------------------------------------------------------------


def decode_value(data: Any, what: str) -> Any:
    """A value from a request: it never makes the server import a module (serde.untrusted)."""
    try:
        with serde.untrusted():
            return serde.from_builtins(data)
    except Exception as exc:  # malformed tags: any error is the client's
        raise BadRequest(f"cannot decode {what}: {exc}") from None


async def _run_json(world: Any, run: Any) -> Any:
    """The run's row (a sealed output shown as such), its code version, what it
    reruns and (blocked) its divergence."""
    return {**msgspec.to_builtins(redact_run(run)), **await run_facts(world, run)}


# --- workflows --------------------------------------------------------------------------


def _find_source(module: str) -> str | None:
    """The file of `module`, found on sys.path without importing anything."""
    parts = module.split(".")
    if not all(p.isidentifier() for p in parts):
        return None
    loaded = sys.modules.get(module)
    if loaded is not None:
        file = getattr(loaded, "__file__", None)
        return file if isinstance(file, str) and file.endswith(".py") else None
    rel = os.path.join(*parts)
    for entry in sys.path:
        base = entry or os.getcwd()
        for candidate in (rel + ".py", os.path.join(rel, "__init__.py")):
            path = os.path.join(base, candidate)
            if os.path.isfile(path):
                return path
    return None


def workflow_id_for(runtime: Runtime, name: str) -> str:
    """"module:func" or "workflow//module//func" -> the id, checked to name a
    module with directives."""
    if name.startswith("workflow//"):
        workflow_id = name
    elif ":" in name:
        module, _, qualname = name.partition(":")
        workflow_id = f"workflow//{module}//{qualname}"
    else:
        raise BadRequest(f"workflow must be 'module:function' or a workflow id, not {name!r}")
    kind, module, qualname = split_id(workflow_id)
    if kind != "workflow":
        raise BadRequest(f"{name!r} is not a workflow id")
    path = _find_source(module)
    source = ""
    if path:
        try:
            with open(path, encoding="utf-8") as f:
                source = f.read()
        except (OSError, UnicodeDecodeError):
            pass
    if path is None or not has_directive(source):
        raise WorkflowNotFound(f"no workflow module {module!r} on the server's path")
    runtime.loader.paths.setdefault(module, path)
    return workflow_id


# --- handlers ---------------------------------------------------------------------------


async def start_run(request: web.Request) -> web.StreamResponse:
    try:
        body = msgspec.json.decode(await request.read(), type=StartBody)
    except (msgspec.DecodeError, msgspec.ValidationError, RecursionError) as exc:
        raise BadRequest(f"bad start request: {exc}") from None
    rt = request.app[RUNTIME]
    workflow_id = workflow_id_for(rt, body.workflow)
    args = decode_value(body.args, "args")
    kwargs = decode_value(body.kwargs, "kwargs")
    if not isinstance(kwargs, dict) or not all(isinstance(k, str) and k.isidentifier() for k in kwargs):
        raise BadRequest("kwargs must map argument names to values")
    try:
        # start_run checks this too; here its TypeError is the client's mistake (400).
        check_arguments(rt.loader.workflow_function(workflow_id), args, kwargs)
    except TypeError as exc:
        return error_response(400, str(exc), "TypeError")
    debounce = None
    if body.debounce is not None:
        try:
            debounce = (parse_duration(body.debounce[0]), body.debounce[1])
        except ValueError as exc:
            raise BadRequest(f"bad debounce window: {exc}") from None
    # The caller's trace (W3C traceparent) becomes the run's parent span.
    with tracing.incoming_traceparent(request.headers.get("traceparent")):
        run_id = await rt.start_run(
            workflow_id, tuple(args), kwargs,
            idempotency_key=body.idempotency_key, priority=body.priority, debounce=debounce,
        )
    return json_response({"run_id": run_id}, status=201)


def _int(request: web.Request, name: str, default: int, low: int, high: int) -> int:
    raw = request.query.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise BadRequest(f"{name} must be an integer, not {raw!r}") from None
    if not low <= value <= high:
        raise BadRequest(f"{name} must be between {low} and {high}")
    return value


def _time(request: web.Request, name: str) -> float | None:
    """A unix time in seconds from the query, or None."""
    raw = request.query.get(name)
    if not raw:
        return None
    try:
        value = float(raw)
    except ValueError:
        raise BadRequest(f"{name} must be a unix time in seconds, not {raw!r}") from None
    if value != value or value in (float("inf"), float("-inf")):
        raise BadRequest(f"{name} must be a finite number")
    return value


async def list_runs(request: web.Request) -> web.StreamResponse:
    status = request.query.get("status") or None
    if status is not None and status not in STATUSES:
        raise BadRequest(f"status must be one of {', '.join(STATUSES)}")
    workflow = request.query.get("workflow") or None
    if workflow is not None and not workflow.startswith("workflow//"):
        module, sep, qualname = workflow.partition(":")
        if not sep:
            raise BadRequest("workflow must be 'module:function' or a workflow id")
        workflow = f"workflow//{module}//{qualname}"
    limit = _int(request, "limit", 100, 1, 1000)
    world = request.app[RUNTIME].world
    try:
        page = await world.list_runs(
            status=status, workflow_id=workflow, limit=limit, cursor=request.query.get("cursor") or None,
            created_after=_time(request, "created_after"), created_before=_time(request, "created_before"),
        )
    except ValueError as exc:  # a cursor that is not ours
        raise BadRequest(str(exc)) from None
    runs = [await _run_json(world, r) for r in page.items]
    return json_response({"runs": runs, "next_cursor": page.next_cursor})


async def get_run(request: web.Request) -> web.StreamResponse:
    run_id = request.match_info["run_id"]
    raw = request.query.get("wait") or "0"
    try:
        wait = float(raw)
    except ValueError:
        raise BadRequest(f"wait must be a number of seconds, not {raw!r}") from None
    if not 0 <= wait <= MAX_WAIT:  # also refuses nan
        raise BadRequest(f"wait must be between 0 and {MAX_WAIT:g} seconds")
    rt = request.app[RUNTIME]
    run = await rt.world.get_run(run_id)
    if run is None:
        raise RunNotFound(run_id)
    if wait > 0 and run.status not in TERMINAL_STATUSES:
        try:
            run = await rt.wait_terminal(run_id, wait)
        except TimeoutError:
            run = await rt.world.get_run(run_id)
    return json_response(await _run_json(rt.world, run))


async def list_events(request: web.Request) -> web.StreamResponse:
    run_id = request.match_info["run_id"]
    after = _int(request, "after", -1, -1, 2**62)
    limit = _int(request, "limit", 0, 0, 100_000)
    world = request.app[RUNTIME].world
    if await world.get_run(run_id) is None:
        raise RunNotFound(run_id)
    events = redact_events(await world.read_events(run_id, after, limit or None))
    return json_response({"events": msgspec.to_builtins(events)})


async def cancel_run(request: web.Request) -> web.StreamResponse:
    run_id = request.match_info["run_id"]
    rt = request.app[RUNTIME]
    await rt.cancel(run_id)  # RunNotFound for an unknown id
    run = await rt.world.get_run(run_id)
    return json_response({"run_id": run_id, "status": run.status if run else "cancelled"})


class RerunBody(msgspec.Struct, forbid_unknown_fields=True):
    from_step: int | None = None


async def rerun_run(request: web.Request) -> web.StreamResponse:
    raw = await request.read()
    try:
        body = msgspec.json.decode(raw, type=RerunBody) if raw else RerunBody()
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise BadRequest(f"bad rerun request: {exc}") from None
    run_id = await request.app[RUNTIME].rerun(request.match_info["run_id"], body.from_step)
    return json_response({"run_id": run_id}, status=201)


async def retry_run(request: web.Request) -> web.StreamResponse:
    run_id = request.match_info["run_id"]
    step_id = await request.app[RUNTIME].retry(run_id)  # ValueError (400) unless it failed in a step
    return json_response({"run_id": run_id, "step_id": step_id})


async def resume_hook(request: web.Request) -> web.StreamResponse:
    token = request.match_info["token"]
    data = json_object(await request.read())
    if "payload" not in data or set(data) - {"payload"}:
        raise BadRequest('the body must be {"payload": <value>}')
    payload = decode_value(data["payload"], "payload")
    run_id = await request.app[RUNTIME].resume_hook(token, payload)
    return json_response({"run_id": run_id})


async def get_hook(request: web.Request) -> web.StreamResponse:
    info = await lookup_hook(request.app[RUNTIME].world, request.match_info["token"])
    return json_response(msgspec.to_builtins(info))


async def list_schedules(request: web.Request) -> web.StreamResponse:
    return json_response({"schedules": await describe_all(request.app[RUNTIME].world)})


async def pause_schedule(request: web.Request) -> web.StreamResponse:
    return await _set_paused(request, True)


async def resume_schedule(request: web.Request) -> web.StreamResponse:
    return await _set_paused(request, False)


async def _set_paused(request: web.Request, paused: bool) -> web.StreamResponse:
    name = request.match_info["name"]
    try:
        state = await set_paused(request.app[RUNTIME].world, name, paused)
    except KeyError:
        return error_response(404, f"no schedule named {name!r}", "KeyError")
    return json_response(describe(state))
