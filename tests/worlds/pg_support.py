"""The test PostgreSQL server: its URL, a reachability probe that skips with a
printed reason, and per-test schemas. Imported by name (`pg_support`) from the
worlds and e2e test folders; a conftest is never imported by name."""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
import uuid

import pytest

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
