"""`wdk.api.configure()`: settings for the runtimes started from now on, over
the `WDK_*` variables (`wdk.settings`), and the world they make.

A runtime reads the settings when it starts (once per event loop), so a new
loop sees changes made by `configure()` since.
"""

from __future__ import annotations

from pathlib import Path

from wdk import settings as _settings
from wdk.settings import DivergencePolicy, Settings, current_settings
from wdk.worlds import world_from_settings
from wdk.worlds.base import World

__all__ = ["configure", "make_world", "reset"]

_world: World | None = None  # a world instance given to configure()


def configure(
    *,
    world: str | World | None = None,
    data_dir: str | Path | None = None,
    server_url: str | None = None,
    worker: bool | None = None,
    url: str | None = None,
    schema: str | None = None,
    concurrency: int | None = None,
    lease_seconds: float | None = None,
    reconcile_seconds: float | None = None,
    load_retry: float | None = None,
    max_recoveries: int | None = None,
    warm_runs: int | None = None,
    step_threads: int | None = None,
    base_url: str | None = None,
    secret: str | None = None,
    schedules: bool | None = None,
    on_divergence: DivergencePolicy | None = None,
) -> None:
    """Settings for runtimes started from now on; None leaves one as it is.

        configure(data_dir="/var/lib/myapp/wdk")          # local world, another folder
        configure(world="postgres", url="postgresql://...")  # scale out (schema="wdk")
        configure(server_url="http://127.0.0.1:3000")     # client of a `wdk serve`
        configure(server_url="")                          # ... and back to this process's runtime
        configure(worker=False)   # only start/follow runs here; `wdk worker` runs them
        configure(schedules=False)  # this process fires no wdk.schedule declarations
        configure(on_divergence="fail")  # a run that no longer replays fails (default: blocked)

    Each keyword is a setting of `wdk.settings.Settings` (`url`, `schema`: the
    postgres world's `postgres_url`, `postgres_schema`); `world` may also be
    a World instance, used as it is.
    """
    global _world
    values = {
        "data_dir": None if data_dir is None else str(data_dir),
        "server_url": server_url,
        "worker": worker,
        "postgres_url": url,
        "postgres_schema": schema,
        "concurrency": concurrency,
        "lease_seconds": lease_seconds,
        "reconcile_seconds": reconcile_seconds,
        "load_retry": load_retry,
        "max_recoveries": max_recoveries,
        "warm_runs": warm_runs,
        "step_threads": step_threads,
        "base_url": base_url,
        "secret": secret,
        "schedules": schedules,
        "on_divergence": None if on_divergence is None else _settings.check_divergence_policy(on_divergence),
    }
    if isinstance(world, str):
        values["world"] = world.strip().lower()
        _world = None
    elif world is not None:
        values["world"] = world.name
        _world = world
    _settings.set_overrides(**{k: v for k, v in values.items() if v is not None})


def reset() -> None:
    """Forget `configure()` calls (tests)."""
    global _world
    _world = None
    _settings.clear_overrides()


def make_world(settings: Settings | None = None) -> World:
    """The configured world (not opened yet)."""
    if _world is not None:
        return _world
    return world_from_settings(settings or current_settings())
