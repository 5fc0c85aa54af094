"""One runtime per process and loop: the runtime a worker, the server or a
plugin runs is the one `get_runtime()` returns in its loop, so a workflow that
starts a child run (a step calling `wdk.api.start` in that loop) neither starts
a second runtime nor opens the store a second time."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

import pytest
from flows import family

from wdk.api import start
from wdk.cli.worker import start_worker
from wdk.runtime.config import make_world
from wdk.runtime.engine import (
    Runtime,
    current_runtime,
    get_runtime,
    install_runtime,
    shutdown_runtime,
)
from wdk.worlds.local import LocalWorld
from wdk.worlds.sqlite_schema import resolve_synchronous


def _open_descriptors(path: Path) -> int:
    """How many of this process's file descriptors point at `path`: one per
    SQLite connection to it (an open local world holds `LocalWorld.connections(...)`)."""
    count = 0
    for fd in os.listdir("/proc/self/fd"):
        try:
            count += os.readlink(f"/proc/self/fd/{fd}") == str(path)
        except OSError:  # closed meanwhile (the listing's own descriptor)
            pass
    return count


def _connections() -> int:
    return LocalWorld.connections(resolve_synchronous(None))


needs_proc = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="counts descriptors in /proc")


@needs_proc
async def test_a_worker_loop_has_one_runtime_and_one_connection(e2e_world: str, data_dir: Path) -> None:
    rt = await start_worker(concurrency=4)
    try:
        assert current_runtime() is rt and await get_runtime() is rt
        run = await start(family.parent, 3)  # its child is started by a step in this loop
        assert await run.result(timeout=20) == family.expected(3)
        assert await get_runtime() is rt
        if e2e_world == "local":
            assert _open_descriptors(data_dir / "wdk.sqlite3") == _connections()
    finally:
        await shutdown_runtime()
    assert current_runtime() is None


async def test_a_loop_refuses_a_second_runtime(e2e_world: str) -> None:
    rt = await get_runtime(consume=False)
    try:
        install_runtime(rt)  # the same one again: fine
        with pytest.raises(RuntimeError, match="already has a wdk runtime"):
            install_runtime(Runtime(make_world()))
        assert current_runtime() is rt
    finally:
        await shutdown_runtime()


@needs_proc
@pytest.mark.local_only("counts connections to the SQLite file")
async def test_the_server_runs_the_loops_runtime(data_dir: Path) -> None:
    from wdk.server.app import RUNTIME, create_app, start_server

    app = create_app(secret="s" * 32)
    server = await start_server("127.0.0.1", 0, app=app)
    try:
        assert app[RUNTIME] is current_runtime() is await get_runtime()
        run = await start(family.parent, 4)
        assert await run.result(timeout=20) == family.expected(4)
        assert _open_descriptors(data_dir / "wdk.sqlite3") == _connections()
    finally:
        await server.close()
        await shutdown_runtime()


@needs_proc
@pytest.mark.local_only("counts connections to the SQLite file")
async def test_the_threaded_plugins_loop_has_one_runtime(data_dir: Path) -> None:
    from wdk.plugins import _threaded

    def in_thread() -> tuple[object, bool]:
        run_id = _threaded.start(family.parent, 5)
        out = _threaded.result(run_id, timeout=20)
        same = _threaded.background.run(_same_runtime())
        return (out, same)

    try:
        out, same = await asyncio.to_thread(in_thread)
        assert out == family.expected(5) and same
        assert _open_descriptors(data_dir / "wdk.sqlite3") == _connections()
    finally:
        await asyncio.to_thread(_threaded.stop)


async def _same_runtime() -> bool:
    rt = current_runtime()
    return rt is not None and await get_runtime() is rt
