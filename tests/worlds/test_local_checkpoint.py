"""The local world checkpoints its WAL on a thread of its own (sqlite_checkpoint)."""

from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path

from world_support import ev, new_run

from wdk.worlds.local import LocalWorld
from wdk.worlds.sqlite_checkpoint import BACKSTOP_PAGES, PAGES, PAGES_PER_OP
from wdk.worlds.sqlite_keys import RUN_NUM, SEQ_MASK, run_keys

LAST_SEQ = f"SELECT max(k) & {SEQ_MASK} FROM events WHERE {run_keys(RUN_NUM)}"


def _threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "wdk-sqlite-checkpoint"]


async def test_checkpoints_off_the_loop_and_stops_with_the_world(tmp_path: Path) -> None:
    before = len(_threads())
    world = LocalWorld(tmp_path, synchronous="NORMAL")
    await world.open()
    assert len(_threads()) == before + 1
    # The loop's connection checkpoints only as a backstop.
    assert world._db.execute("PRAGMA wal_autocheckpoint").fetchone()[0] == BACKSTOP_PAGES
    checkpointer = world._checkpointer
    assert checkpointer is not None
    size = world.path.stat().st_size  # the database file alone: only a checkpoint writes it
    run = await new_run(world)
    seq = 0
    for i in range(PAGES // PAGES_PER_OP + 10):  # one commit each: enough pages for a checkpoint
        await world.append(run, seq, [ev("patch_recorded", name=f"p{i}")])
        seq += 1
    deadline = time.monotonic() + 60
    while not (world.path.stat().st_size > size and checkpointer.checkpoints) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert world.path.stat().st_size > size and checkpointer.checkpoints >= 1
    await world.close()
    assert len(_threads()) == before
    # Nothing was lost on the way: every commit is in the store.
    with sqlite3.connect(world.path) as conn:
        assert conn.execute(LAST_SEQ, (run,)).fetchone()[0] == seq


async def test_a_quiet_world_checkpoints_what_it_wrote(tmp_path: Path) -> None:
    world = LocalWorld(tmp_path, synchronous="NORMAL")
    await world.open()
    checkpointer = world._checkpointer
    assert checkpointer is not None
    run = await new_run(world)
    await world.append(run, 0, [ev("patch_recorded", name="p")])
    size = world.path.stat().st_size
    deadline = time.monotonic() + 60  # the idle timer (IDLE_SECONDS), with room for a loaded machine
    while not (world.path.stat().st_size > size and checkpointer.checkpoints) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert world.path.stat().st_size > size and checkpointer.checkpoints >= 1
    await world.close()


async def test_full_checkpoints_in_the_commit_as_sqlite_does(tmp_path: Path) -> None:
    before = len(_threads())
    world = LocalWorld(tmp_path, synchronous="FULL")
    await world.open()
    assert world._checkpointer is None and len(_threads()) == before
    assert world._db.execute("PRAGMA wal_autocheckpoint").fetchone()[0] == PAGES
    assert LocalWorld.connections("FULL") == 1 and LocalWorld.connections("NORMAL") == 2
    await world.close()
