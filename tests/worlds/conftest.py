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

import asyncio
import concurrent.futures
import os
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest

from wdk.worlds import World
from wdk.worlds.local import LocalWorld

DEFAULT_TEST_URL = "postgresql://postgres@127.0.0.1:5432/test"
_reachable: dict[str, str | None] = {}


def postgres_url() -> str:
    return (
        os.environ.get("WDK_TEST_POSTGRES_URL")
        or os.environ.get("WDK_POSTGRES_URL")
        or DEFAULT_TEST_URL
    )


def require_postgres() -> str:
    """The test server's URL, or skip the test with the reason it is unusable."""
    url = postgres_url()
    if url not in _reachable:
        # A thread of its own: the caller may be inside a running event loop.
        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            _reachable[url] = pool.submit(asyncio.run, _probe(url)).result()
    reason = _reachable[url]
    if reason is not None:
        print(f"\nskipping postgres tests: {reason}")
        pytest.skip(f"no postgres server: {reason}")
    return url


async def _probe(url: str) -> str | None:
    try:
        import asyncpg
    except ImportError:
        return "asyncpg is not installed (pip install 'wdk[postgres]')"
    from wdk.worlds.pg_schema import describe

    try:
        conn = await asyncpg.connect(url, timeout=3)
    except Exception as exc:
        return f"{describe(url)} unreachable ({type(exc).__name__}: {exc})"
    await conn.close()
    return None


def unique_schema() -> str:
    return f"wdk_test_{uuid.uuid4().hex[:12]}"


async def drop_schema(url: str, schema: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(url, timeout=10)
    try:
        await conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    finally:
        await conn.close()


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
