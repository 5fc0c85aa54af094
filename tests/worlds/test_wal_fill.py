"""At synchronous=FULL the local world opens with a WAL file of full size
(sqlite_wal.py): step commits overwrite frames instead of growing the file,
the filler frames change nothing, and a process killed while writing them
leaves the store whole."""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

from world_support import ev, new_run

from wdk.worlds import sqlite_wal
from wdk.worlds.local import LocalWorld


def _wal_size(world: LocalWorld) -> int:
    return world.path.with_name(world.path.name + "-wal").stat().st_size


def _frames(size: int) -> int:
    return (size - sqlite_wal.WAL_HEADER) // (sqlite_wal.FRAME_HEADER + 4096)


async def _steps(world: LocalWorld, run: str, count: int) -> None:
    seq = 1
    for n in range(1, count + 1):
        cid = f"step_{n}_0123456789abcdef"
        batch = [ev("step_created", cid, step_id="s", input={"args": [n]}), ev("step_started", cid, attempt=1)]
        await world.append(run, seq, batch)
        seq += 2
        await world.append(run, seq, [ev("step_completed", cid, result=n)])
        seq += 1


async def test_a_full_store_commits_steps_without_growing_its_wal(tmp_path: Path) -> None:
    world = LocalWorld(tmp_path, synchronous="FULL")
    await world.open()
    try:
        size = _wal_size(world)
        assert _frames(size) >= sqlite_wal.PAGES
        run = await new_run(world, started=True)
        await _steps(world, run, 200)  # ~600 commits, well past the first 1,000 pages' worth
        assert _wal_size(world) == size  # every commit overwrote frames the file had
        assert [e.type for e in (await world.read_events(run))[-3:]] == [
            "step_created", "step_started", "step_completed",
        ]
    finally:
        await world.close()


async def test_the_filler_changes_no_data_and_a_second_open_writes_nothing(tmp_path: Path) -> None:
    first = LocalWorld(tmp_path, synchronous="FULL")
    await first.open()
    try:
        secret = await first.store_secret()
        run = await new_run(first, started=True)
        # Another process's world on the same store finds the WAL full size already.
        second = LocalWorld(tmp_path, synchronous="FULL")
        await second.open()
        try:
            assert sqlite_wal.fill(second._db, second.path, "FULL") == 0
            assert await second.store_secret() == secret
            assert (await second.get_run(run)).status == "running"
            assert second._db.execute("PRAGMA synchronous").fetchone()[0] == 2
            assert second._db.execute("PRAGMA wal_autocheckpoint").fetchone()[0] == 1000
        finally:
            await second.close()
    finally:
        await first.close()


async def test_a_normal_store_is_not_filled(tmp_path: Path) -> None:
    # At NORMAL commits do not sync: growing the file costs nothing.
    world = LocalWorld(tmp_path, synchronous="NORMAL")
    await world.open()
    try:
        assert _frames(_wal_size(world)) < 100
        assert sqlite_wal.fill(world._db, world.path, "NORMAL") == 0
    finally:
        await world.close()


_FILL_FOREVER = """
import asyncio, sys
from pathlib import Path
from wdk.worlds import sqlite_wal
from wdk.worlds.local import LocalWorld

async def main() -> None:
    world = LocalWorld(Path(sys.argv[1]), synchronous="NORMAL")
    await world.open()
    print("filling", flush=True)
    sqlite_wal.fill(world._db, world.path, "FULL", pages=20_000)  # 80 MB at most if never killed

asyncio.run(main())
"""


def test_a_process_killed_while_filling_leaves_the_store_whole(tmp_path: Path) -> None:
    async def make() -> str:
        world = LocalWorld(tmp_path)
        await world.open()
        run = await new_run(world, started=True)
        await _steps(world, run, 5)
        await world.close()
        return run

    run = asyncio.run(make())
    with subprocess.Popen(
        [sys.executable, "-c", _FILL_FOREVER, str(tmp_path)], stdout=subprocess.PIPE, text=True, env=os.environ.copy()
    ) as proc:
        assert proc.stdout is not None and proc.stdout.readline() == "filling\n"
        wal = tmp_path / "wdk.sqlite3-wal"
        # Killed mid-fill: once the filler has written a few hundred frames.
        while _frames(wal.stat().st_size) < 300:
            assert proc.poll() is None
        proc.send_signal(signal.SIGKILL)
        proc.wait()

    async def check() -> None:
        world = LocalWorld(tmp_path, synchronous="FULL")
        await world.open()
        try:
            events = await world.read_events(run)
            assert [e.type for e in events].count("step_completed") == 5
            await _steps(world, run, 0)
        finally:
            await world.close()

    asyncio.run(check())
    with sqlite3.connect(tmp_path / "wdk.sqlite3") as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
