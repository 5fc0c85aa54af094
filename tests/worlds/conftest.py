"""The `world` fixture: every conformance test runs once per World implementation.

To add an implementation, add a factory to WORLD_FACTORIES: it gets a fresh
temporary directory and returns an unopened World (or calls pytest.skip when
its server is not reachable). WORLD_CLEANUPS may hold an async cleanup run
after the world is closed.

The postgres world runs against $WDK_TEST_POSTGRES_URL (else $WDK_POSTGRES_URL,
else postgresql://postgres@127.0.0.1:5432/test), one fresh schema per test,
dropped afterwards. Without a reachable server its tests skip, saying why.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest
from pg_support import drop_schema, require_postgres, unique_schema

from wdk.worlds import World
from wdk.worlds.local import LocalWorld


def _local(tmp_path: Path) -> World:
    return LocalWorld(tmp_path / "wdk-data")


def _postgres(tmp_path: Path) -> World:
    from wdk.worlds.postgres import PostgresWorld

    return PostgresWorld(require_postgres(), schema=unique_schema())


async def _postgres_cleanup(world: World) -> None:
    from wdk.worlds.postgres import PostgresWorld

    assert isinstance(world, PostgresWorld)
    await drop_schema(world.url, world.schema)


WORLD_FACTORIES: dict[str, Callable[[Path], World]] = {
    "local": _local,
    "postgres": _postgres,
}
WORLD_CLEANUPS: dict[str, Callable[[World], Awaitable[None]]] = {
    "postgres": _postgres_cleanup,
}


@pytest.fixture(params=sorted(WORLD_FACTORIES))
async def world(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[World]:
    """A freshly opened, empty world."""
    instance = WORLD_FACTORIES[request.param](tmp_path)
    cleanup = WORLD_CLEANUPS.get(request.param)
    try:
        await instance.open()
        try:
            yield instance
        finally:
            await instance.close()
    finally:
        if cleanup is not None:
            await cleanup(instance)
