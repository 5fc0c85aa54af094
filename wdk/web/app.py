"""The `wdk web` application: the single-page UI and the read API it uses.

    GET  /                         the page (it routes itself by #fragment)
    GET  /static/{name}            app.js, app.css
    GET  /api/runs                 ?status=&workflow=&limit=&cursor=      (wdk.server.jsonapi)
    GET  /api/runs/{id}                                                   (wdk.server.jsonapi)
    GET  /api/runs/{id}/detail     {"run", "steps", "waits", "hooks"}: `wdk inspect run --json`
    GET  /api/runs/{id}/events     ?after=&limit=                         (wdk.server.jsonapi)
    GET  /api/runs/{id}/stream     ?namespace=&start=: NDJSON, or SSE     (wdk.server.streaming)
    POST /api/runs/{id}/cancel                                            (wdk.server.jsonapi)
    GET  /api/schedules, POST /api/schedules/{name}/pause|resume          (wdk.server.jsonapi)
    GET  /api/system               ?minutes=: the system view's numbers  (wdk.server.observe)

Every route needs the API token (`wdk.server.auth`): the page logs in with
`/?token=<token>` (a session cookie), and its POSTs carry the session's CSRF
token, which the page reads from its `<meta name="wdk-csrf">`.

It never starts a run and never works the queue: it opens a client-only
runtime (`consume=False`), so it can run next to workers without taking
their work. A loop that already has a runtime (a test, an app that mounts
this one) is served with that one.
"""

from __future__ import annotations

from pathlib import Path

import msgspec
from aiohttp import web

from wdk.errors import RunNotFound
from wdk.protocol import NotFound
from wdk.runtime.blocking import run_facts
from wdk.runtime.engine import get_runtime
from wdk.runtime.redact import redact_hooks, redact_run
from wdk.server import jsonapi, observe
from wdk.server.auth import AUTH, SESSION_COOKIE, guard, load_api_token, make_auth
from wdk.server.edge import RUNTIME, error_edge, expect_handler, fallback, json_response
from wdk.server.handlers import stream

STATIC = Path(__file__).resolve().parent / "static"
_TYPES = {".js": "text/javascript", ".css": "text/css", ".html": "text/html"}
# The page and its script change together: a browser must not mix versions.
_NO_CACHE = {"cache-control": "no-cache"}
# Everything the page needs is served from here: forbid anything else outright.
_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)


def create_app(*, api_token: str | None = None) -> web.Application:
    """The UI and its API, served with the loop's runtime (started without a
    consumer). It needs `api_token` (default WDK_API_TOKEN, else generated:
    `app[AUTH].token`)."""
    app = web.Application(middlewares=[guard, error_edge])
    app[AUTH] = make_auth(api_token or load_api_token()[0])

    async def on_startup(app: web.Application) -> None:
        app[RUNTIME] = await get_runtime(consume=False)

    app.on_startup.append(on_startup)
    for method, path, handler in (
        ("GET", "/", index),
        ("GET", "/static/{name}", static),
        ("GET", "/api/runs", jsonapi.list_runs),
        ("GET", "/api/runs/{run_id}", jsonapi.get_run),
        ("GET", "/api/runs/{run_id}/detail", run_detail),
        ("GET", "/api/runs/{run_id}/events", jsonapi.list_events),
        ("GET", "/api/runs/{run_id}/stream", stream),
        ("POST", "/api/runs/{run_id}/cancel", jsonapi.cancel_run),
        ("GET", "/api/schedules", jsonapi.list_schedules),
        ("POST", "/api/schedules/{name}/pause", jsonapi.pause_schedule),
        ("POST", "/api/schedules/{name}/resume", jsonapi.resume_schedule),
        ("GET", observe.SYSTEM_PATH, observe.system),
    ):
        app.router.add_route(method, path, handler, expect_handler=expect_handler)
    app.router.add_route("*", "/{tail:[\\s\\S]*}", fallback, expect_handler=expect_handler)
    return app


def _file(name: str, csrf: str = "") -> web.Response:
    path = STATIC / name
    headers = {"content-security-policy": _CSP, "x-content-type-options": "nosniff", **_NO_CACHE}
    body = path.read_bytes()
    if name == "index.html":
        body = body.replace(b"{{csrf}}", csrf.encode())
    return web.Response(
        body=body,
        content_type=_TYPES[path.suffix],
        charset="utf-8",
        headers=headers,
    )


async def index(request: web.Request) -> web.StreamResponse:
    auth = request.app[AUTH]
    nonce = auth.session_nonce(request.cookies.get(SESSION_COOKIE))
    return _file("index.html", auth.csrf_for(nonce) if nonce else "")


async def static(request: web.Request) -> web.StreamResponse:
    name = request.match_info["name"]
    # Only the files that are there, by plain name: no path ever leaves STATIC.
    if "/" in name or name.startswith(".") or Path(name).suffix not in _TYPES or not (STATIC / name).is_file():
        raise NotFound(f"no static file {name!r}")
    return _file(name)


async def run_detail(request: web.Request) -> web.StreamResponse:
    """A run with its steps, waits and hooks: what the run page draws."""
    run_id = request.match_info["run_id"]
    world = request.app[RUNTIME].world
    run = await world.get_run(run_id)
    if run is None:
        raise RunNotFound(run_id)
    steps = await world.list_steps(run_id)
    waits = await world.list_waits(run_id)
    hooks = redact_hooks(await world.list_hooks(run_id))
    detail = msgspec.to_builtins({"run": redact_run(run), "steps": steps, "waits": waits, "hooks": hooks})
    detail["run"].update(await run_facts(world, run))  # code version, rerun of, divergence
    return json_response(detail)
