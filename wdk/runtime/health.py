"""Is this process able to do its work? The answer behind
`GET /.well-known/workflow/v1/health` (wdk serve and every plugin) and
`wdk health`.

Healthy means: the world answers a query within HEALTH_TIMEOUT seconds, and
the queue consumer -- when this process runs one -- is alive. A client-only
runtime (`WDK_EMBEDDED_WORKER=0`) has no consumer and is healthy without one.

    health = await check_health(runtime)
    health.ok, health.to_json()   # 200 with the JSON, or 503 and a reason
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from wdk.runtime.engine import Runtime

__all__ = ["HEALTH_PATH", "HEALTH_TIMEOUT", "Health", "check_health"]

HEALTH_PATH = "/.well-known/workflow/v1/health"
HEALTH_TIMEOUT = 5.0
_PROBE_RUN = "wrun_health_probe"  # never a real id: the query finds nothing


@dataclass(frozen=True)
class Health:
    ok: bool
    world: str  # the world's name
    world_ok: bool
    world_detail: str  # "reachable (3 ms)" or why not
    consumer: bool | None  # None: this process runs no queue consumer
    consumer_detail: str

    @property
    def reason(self) -> str | None:
        """Why the process is unhealthy (None when it is healthy)."""
        if self.ok:
            return None
        reasons = []
        if not self.world_ok:
            reasons.append(f"the {self.world} world is unreachable: {self.world_detail}")
        if self.consumer is False:
            reasons.append(f"the queue consumer is not running: {self.consumer_detail}")
        return "; ".join(reasons)

    def to_json(self) -> dict[str, Any]:
        return {
            "status": "ok" if self.ok else "unavailable",
            "reason": self.reason,
            "world": {"name": self.world, "ok": self.world_ok, "detail": self.world_detail},
            "queue_consumer": {"alive": self.consumer, "detail": self.consumer_detail},
        }


async def check_health(runtime: Runtime, timeout: float = HEALTH_TIMEOUT) -> Health:
    """Probe the world with one query and look at the queue consumer."""
    world_ok, world_detail = await _probe_world(runtime, timeout)
    consumer, consumer_detail = runtime.consumer_status()
    return Health(
        ok=world_ok and consumer is not False,
        world=runtime.world.name,
        world_ok=world_ok,
        world_detail=world_detail,
        consumer=consumer,
        consumer_detail=consumer_detail,
    )


async def _probe_world(runtime: Runtime, timeout: float) -> tuple[bool, str]:
    t0 = time.monotonic()
    try:
        await asyncio.wait_for(runtime.world.get_run(_PROBE_RUN), timeout)
    except TimeoutError:
        return False, f"no answer within {timeout:g} s"
    except Exception as exc:  # whatever the driver raises: the store is not usable
        return False, f"{type(exc).__name__}: {exc}"
    return True, f"reachable ({(time.monotonic() - t0) * 1000:.0f} ms)"
