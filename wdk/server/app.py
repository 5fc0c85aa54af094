"""The aiohttp application of `wdk serve`: its routes, and starting a server.

    server = await start_server(port=0)          # 127.0.0.1, a free port
    print(server.url)                             # http://127.0.0.1:54321
    await server.close()

Errors become JSON at the edge (`wdk.server.edge`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from aiohttp import web

from wdk.protocol import API_MAX_BYTES
from wdk.runtime.engine import get_runtime
from wdk.server import handlers, jsonapi, observe
from wdk.server.auth import AUTH, guard, load_api_token, make_auth, set_bind_host
from wdk.server.edge import RUNTIME, WEBHOOK_MAX_BYTES, error_edge, expect_handler, fallback
from wdk.server.signing import load_secret
from wdk.settings import current_settings

__all__ = ["RUNTIME", "Server", "create_app", "start_server"]


def create_app(
    *, secret: str | None = None, webhook_max_bytes: int | None = None, api_token: str | None = None
) -> web.Application:
    """The wdk application. It serves with the loop's runtime (`get_runtime()`,
    started with the app), which also works the queue. Its JSON API needs
    `api_token` (default WDK_API_TOKEN, else a generated one: `app[AUTH].token`)."""
    # A body may carry one payload at the limit, plus its JSON envelope.
    max_body = max(API_MAX_BYTES, current_settings().max_payload_bytes + (64 << 10))
    app = web.Application(middlewares=[guard, error_edge], client_max_size=max_body)
    app[AUTH] = make_auth(api_token or load_api_token()[0])
    handlers.use_secret(app, secret or load_secret()[0])
    app[WEBHOOK_MAX_BYTES] = webhook_max_bytes or current_settings().webhook_max_bytes

    async def on_startup(app: web.Application) -> None:
        app[RUNTIME] = await get_runtime()

    app.on_startup.append(on_startup)
    handlers.add_routes(app)
    jsonapi.add_routes(app)
    # /metrics needs no token (counts only: auth.PUBLIC_PATHS); /api/system does.
    app.router.add_route("GET", observe.METRICS_PATH, observe.prometheus, expect_handler=expect_handler)
    app.router.add_route("GET", observe.SYSTEM_PATH, observe.system, expect_handler=expect_handler)
    app.router.add_route("*", "/{tail:[\\s\\S]*}", fallback, expect_handler=expect_handler)
    return app


@dataclass
class Server:
    runner: web.AppRunner
    url: str
    host: str
    port: int

    async def close(self) -> None:
        await self.runner.cleanup()


async def start_server(
    host: str = "127.0.0.1",
    port: int = 0,
    *,
    app: web.Application | None = None,
    **options: Any,
) -> Server:
    """Serve `app` (default `create_app(**options)`) on host:port (0: a free port)."""
    app = app or create_app(**options)
    set_bind_host(app, host)
    runner = web.AppRunner(
        app,
        access_log=None,
        # A client that goes away cancels its handler: a stream follower must
        # not outlive its reader.
        handler_cancellation=True,
        shutdown_timeout=1.0,
    )
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    bound = runner.addresses[0]
    real_port = int(bound[1])
    shown = f"[{host}]" if ":" in host else host
    return Server(runner, f"http://{shown}:{real_port}", host, real_port)
