"""The `world` fixture: every conformance test runs once per World implementation.

To add an implementation, add a factory to WORLD_FACTORIES: it gets a fresh
temporary directory and returns an unopened World (or calls pytest.skip when
its server is not configured).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from wdk.worlds import World
from wdk.worlds.local import LocalWorld


def _local(tmp_path: Path) -> World:
    return LocalWorld(tmp_path / "wdk-data")


WORLD_FACTORIES: dict[str, Callable[[Path], World]] = {
    "local": _local,
}


@pytest.fixture(params=sorted(WORLD_FACTORIES))
async def world(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[World]:
    """A freshly opened, empty world."""
    instance = WORLD_FACTORIES[request.param](tmp_path)
    await instance.open()
    try:
        yield instance
    finally:
        await instance.close()
