"""Worlds: where runs are stored and queued. `create_world()` picks one by name.

`local` (SQLite, embedded, the default) and `postgres` (asyncpg, scale-out).
The runtime only ever sees the `World` protocol.
"""

from __future__ import annotations

import importlib
from typing import Any, cast

from wdk.errors import WorldError
from wdk.settings import Settings, current_settings
from wdk.worlds.base import (
    COMPLETION_TYPES,
    EVENT_TYPES,
    TERMINAL_STATUSES,
    TERMINAL_TYPES,
    Event,
    EventType,
    HookInfo,
    Lease,
    NewEvent,
    NewRun,
    Page,
    RunInfo,
    RunStatus,
    StepInfo,
    StreamChunk,
    StreamInfo,
    WaitInfo,
    World,
)

# name -> (module, class): imported only when chosen, so asyncpg stays optional.
WORLDS: dict[str, tuple[str, str]] = {
    "local": ("wdk.worlds.local", "LocalWorld"),
    "postgres": ("wdk.worlds.postgres", "PostgresWorld"),
}


def world_class(name: str) -> Any:
    """The class of the world called `name`, imported now (WorldError if unknown
    or not installed). Each has `from_settings(settings)` and keyword options."""
    chosen = name.strip().lower()
    if chosen not in WORLDS:
        raise WorldError(f"unknown world {chosen!r}: choose one of {', '.join(sorted(WORLDS))}")
    module_name, class_name = WORLDS[chosen]
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        hint = " (pip install 'wdk[postgres]')" if chosen == "postgres" else ""
        raise WorldError(f"the {chosen!r} world is not available: {exc}{hint}") from exc
    return getattr(module, class_name)


def create_world(name: str | None = None, **options: Any) -> World:
    """A world by name (default: the `world` setting, WDK_WORLD, else "local");
    options go to its constructor.

    Example: `world = create_world("local", data_dir=".wdk"); await world.open()`.
    """
    world: World = world_class(name or current_settings().world)(**options)
    return world


def world_from_settings(settings: Settings) -> World:
    """The world `settings` describe (not opened yet), as the runtime uses it (`stored`)."""
    world: World = world_class(settings.world).from_settings(settings)
    return stored(world, settings.encryption_keys)


def stored(world: World, keys: str | None) -> World:
    """`world`, storing large values once per run (`wdk.worlds.blobs`) and,
    with the key ring `keys` (WDK_ENCRYPTION_KEYS), encrypting payloads at
    rest (`wdk.worlds.encrypted`)."""
    from wdk.worlds.blobs import BlobWorld

    if keys:
        from wdk.crypto import KeyRing
        from wdk.worlds.encrypted import EncryptedWorld

        world = cast(World, EncryptedWorld(world, KeyRing.parse(keys)))
    return cast(World, BlobWorld(world))


__all__ = [
    "COMPLETION_TYPES",
    "EVENT_TYPES",
    "TERMINAL_STATUSES",
    "TERMINAL_TYPES",
    "WORLDS",
    "Event",
    "EventType",
    "HookInfo",
    "Lease",
    "NewEvent",
    "NewRun",
    "Page",
    "RunInfo",
    "RunStatus",
    "StepInfo",
    "StreamChunk",
    "StreamInfo",
    "WaitInfo",
    "World",
    "create_world",
    "stored",
    "world_class",
    "world_from_settings",
]
