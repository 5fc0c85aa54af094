"""Process-wide configuration: `wdk.api.configure()` over `WDK_*` variables.

A runtime reads it when it starts (once per event loop), so a new loop sees
changes made by `configure()` since.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from wdk.worlds.base import World


@dataclass
class Settings:
    world: str | World | None = None  # name ("local", "postgres") or an instance
    data_dir: str | None = None
    server_url: str | None = None  # set: wdk.api talks to a `wdk serve` over HTTP
    worker: bool | None = None  # None: WDK_EMBEDDED_WORKER decides (default: consume)
    options: dict[str, Any] = field(default_factory=dict)


settings = Settings()
_generation = 0  # bumped by configure() and reset(): what was chosen from the old settings is stale


def generation() -> int:
    """Changes whenever the configuration does (`wdk.client` re-chooses its client)."""
    return _generation


def configure(
    *,
    world: str | World | None = None,
    data_dir: str | Path | None = None,
    server_url: str | None = None,
    worker: bool | None = None,
    **options: Any,
) -> None:
    """Choose the world for runtimes started from now on.

        configure(data_dir="/var/lib/myapp/wdk")          # local world, another folder
        configure(world="postgres", url="postgresql://...")  # scale out
        configure(server_url="http://127.0.0.1:3000")     # client of a `wdk serve`
        configure(worker=False)   # only start/follow runs here; `wdk worker` runs them
    """
    global _generation
    _generation += 1
    if worker is not None:
        settings.worker = worker
    if world is not None:
        settings.world = world
    if data_dir is not None:
        settings.data_dir = str(data_dir)
    if server_url is not None:
        settings.server_url = server_url or None
    settings.options.update(options)


def reset() -> None:
    """Forget `configure()` calls (tests)."""
    global _generation
    _generation += 1
    settings.world = None
    settings.data_dir = None
    settings.server_url = None
    settings.worker = None
    settings.options.clear()


def make_world() -> World:
    from wdk.worlds import create_world

    if settings.world is not None and not isinstance(settings.world, str):
        return settings.world
    options = dict(settings.options)
    name = settings.world or os.environ.get("WDK_WORLD") or "local"
    if settings.data_dir is not None and name == "local":
        options["data_dir"] = settings.data_dir  # a folder only means something to the local world
    return create_world(name, **options)
