"""aiohttp: the runtime in the app's event loop, `wdk serve`'s routes on the app.

    from aiohttp import web
    from wdk.api import start
    import wdk.plugins.aiohttp

    async def place(request: web.Request) -> web.Response:
        run = await start(process_order, request.match_info["order_id"])
        return web.json_response({"run_id": run.id})

    app = web.Application()
    app.router.add_post("/orders/{order_id}", place)
    wdk.plugins.aiohttp.setup(app)
    web.run_app(app)

The app gets the flow, step, webhook and stream endpoints under
/.well-known/workflow/v1/ and (unless `api=False`) the JSON API under /api/
that `configure(server_url=...)` clients use. Errors on those routes are
answered as `wdk serve` answers them; on the app's own routes only wdk's
RunNotFound and HookNotFound are (404), the rest is left to the app.
"""

from __future__ import annotations

from aiohttp import web

from wdk.errors import HookNotFound, RunNotFound
from wdk.protocol import classify_error
from wdk.runtime import tracing
from wdk.runtime.engine import get_runtime, shutdown_runtime
from wdk.server import handlers, jsonapi
from wdk.server.auth import Auth, check, load_api_token
from wdk.server.edge import RUNTIME, WEBHOOK_MAX_BYTES, Handler, error_edge, error_response
from wdk.server.signing import load_secret
from wdk.settings import current_settings

__all__ = ["setup"]


def setup(
    app: web.Application,
    *,
    secret: str | None = None,
    webhook_max_bytes: int | None = None,
    api: bool = True,
    api_token: str | None = None,
) -> None:
    """Run wdk's runtime with `app` (started on startup, stopped on cleanup) and
    add `wdk serve`'s routes to it. The JSON API needs `api_token` (default
    WDK_API_TOKEN; unset, the API answers 401 to everyone); the run streams
    are the app's, as on the other plugins (its own auth applies)."""
    handlers.use_secret(app, secret or load_secret()[0])
    app[WEBHOOK_MAX_BYTES] = webhook_max_bytes or current_settings().webhook_max_bytes
    # No host check here: the app, not wdk, knows where it listens.
    auth = Auth(api_token or load_api_token()[0], loopback_only=False)
    before = set(app.router.routes())
    handlers.add_routes(app)
    with_token = set(app.router.routes())
    if api:
        jsonapi.add_routes(app)
    ours = frozenset(app.router.routes()) - before
    api_routes = frozenset(app.router.routes()) - with_token

    @web.middleware
    async def wdk_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.match_info.route in api_routes:
            refused = check(request, auth)
            if refused is not None:
                return refused
        if request.match_info.route in ours:
            return await error_edge(request, handler)
        try:
            # A run the handler starts is a child of the request's traceparent
            # (when no OpenTelemetry instrumentation made a current span of it).
            with tracing.incoming_traceparent(request.headers.get("traceparent")):
                return await handler(request)
        except (RunNotFound, HookNotFound) as exc:  # wdk's "no such run/hook" is a 404 anywhere
            status, ident = classify_error(exc)
            return error_response(status, str(exc), type(exc).__name__, ident)

    app.middlewares.append(wdk_errors)
    app.on_startup.append(_startup)
    app.on_cleanup.append(_cleanup)


async def _startup(app: web.Application) -> None:
    app[RUNTIME] = await get_runtime()


async def _cleanup(app: web.Application) -> None:
    await shutdown_runtime()
