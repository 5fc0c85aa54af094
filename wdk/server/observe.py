"""The system's numbers over HTTP: Prometheus metrics and the dashboard's system view.

    GET /metrics        Prometheus text (OpenMetrics when the scraper asks for it); no token
    GET /api/system     ?minutes=: {"at", "counts", "queue", "workers", "throughput", "schedules"}

`/metrics` is on `wdk serve`'s port and, for a worker, on its own
(`wdk worker --metrics-port`, `start_metrics_server`). Like the health
check it needs no API token: it exposes counts, never a run's data.
"""

from __future__ import annotations

import time
from typing import Any

import msgspec
from aiohttp import web

from wdk.protocol import BadRequest
from wdk.runtime import metrics
from wdk.runtime.engine import Runtime
from wdk.runtime.runs import FLOW
from wdk.runtime.schedules import describe_all
from wdk.server.edge import RUNTIME, error_edge, json_response

__all__ = ["METRICS_PATH", "SYSTEM_PATH", "metrics_app", "prometheus", "system"]

METRICS_PATH = "/metrics"
SYSTEM_PATH = "/api/system"
TEXT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
OPENMETRICS_TYPE = "application/openmetrics-text; version=1.0.0; charset=utf-8"
MAX_MINUTES = 24 * 60


async def prometheus(request: web.Request) -> web.StreamResponse:
    """Every wdk metric of this process, the queue depth read now."""
    runtime = request.app.get(RUNTIME)
    if runtime is not None:
        try:
            await runtime.queue_depth()
        except Exception:  # a store that is away: the other metrics still answer
            metrics.QUEUE_DEPTH.last = {}
    openmetrics = "application/openmetrics-text" in request.headers.get("accept", "")
    body = metrics.render(openmetrics=openmetrics)
    content_type = OPENMETRICS_TYPE if openmetrics else TEXT_TYPE
    return web.Response(body=body.encode(), headers={"content-type": content_type})


def _minutes(request: web.Request) -> int:
    raw = request.query.get("minutes") or "15"
    try:
        value = int(raw)
    except ValueError:
        raise BadRequest(f"minutes must be an integer, not {raw!r}") from None
    if not 1 <= value <= MAX_MINUTES:
        raise BadRequest(f"minutes must be between 1 and {MAX_MINUTES}")
    return value


async def system(request: web.Request) -> web.StreamResponse:
    """What the dashboard's system view draws: runs by status, the queue, the
    live workers and their leases, runs ended per minute over the last
    `minutes`, and the schedules."""
    minutes = _minutes(request)
    runtime: Runtime = request.app[RUNTIME]
    now = time.time()
    first = int(now // 60) - minutes + 1
    info = await runtime.world.system_info(FLOW, first * 60.0)
    per_minute: dict[int, dict[str, int]] = {m: {} for m in range(first, first + minutes)}
    for minute, status, count in info.ended:
        if minute in per_minute:
            per_minute[minute][status] = count
    throughput = [{"minute": m * 60, **{s: row.get(s, 0) for s in ("completed", "failed", "cancelled")}}
                  for m, row in per_minute.items()]
    workers: dict[str, dict[str, Any]] = {
        w: {"worker_id": w, "owners": [], "leases": 0, "expires_at": None} for w in info.workers
    }
    for holder in info.holders:
        name = holder.worker_id or holder.owner
        worker = workers.setdefault(name, {"worker_id": name, "owners": [], "leases": 0, "expires_at": 0.0})
        worker["owners"].append(holder.owner)
        worker["leases"] += holder.leases
        worker["expires_at"] = max(worker["expires_at"] or 0.0, holder.expires_at)
    return json_response(
        {
            "at": info.at,
            "counts": info.counts,
            "queue": msgspec.to_builtins(info.queue),
            "workers": sorted(workers.values(), key=lambda w: str(w["worker_id"])),
            "throughput": throughput,
            "schedules": await _schedules(runtime, now),
        }
    )


async def _schedules(runtime: Runtime, now: float) -> dict[str, Any]:
    """How many schedules there are, how many paused, and the next to fire."""
    try:
        items = await describe_all(runtime.world, now)
    except ImportError:  # schedules stored, croniter not installed here: count them only
        states = await runtime.world.list_schedules()
        return {"total": len(states), "paused": sum(1 for s in states if s.paused), "next": None}
    upcoming = sorted((s for s in items if s["next_fire"] is not None), key=lambda s: s["next_fire"])
    first = upcoming[0] if upcoming else None
    return {
        "total": len(items),
        "paused": sum(1 for s in items if s["paused"]),
        "next": None if first is None else {"name": first["name"], "at": first["next_fire"]},
    }


def metrics_app(runtime: Runtime | None = None) -> web.Application:
    """An app with only `/metrics`: what `wdk worker --metrics-port` serves."""
    app = web.Application(middlewares=[error_edge])
    if runtime is not None:
        app[RUNTIME] = runtime
    app.router.add_get(METRICS_PATH, prometheus)
    return app
