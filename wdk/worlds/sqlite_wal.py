"""A store opened at synchronous=FULL gets a WAL file of full size at once.

At FULL every commit fsyncs the WAL. While the file is still growing (a new
store, or the first ~1,000 pages after a process start: SQLite deletes the
WAL when its last connection closes) that fsync also has to write the file's
new size, and a commit costs ~1.7x one that overwrites frames the file
already has (`bench/vs_dbos.py`, raw_commits vs raw_commits_no_checkpoint).
The WAL restarts from its first frame after each checkpoint, so a file of
`PAGES` frames is all the store will use: writing them once at open, without
syncs, turns the growing commits into overwriting ones from the first step.

The frames written are rewrites of one row of `wdk_meta` (`KEY`) that holds
no data; losing them in a crash loses nothing. At NORMAL commits do not sync,
so growth costs nothing and nothing is done.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

__all__ = ["AUTOCHECKPOINT", "KEY", "PAGES", "fill"]

AUTOCHECKPOINT = 1000  # SQLite's default wal_autocheckpoint, which FULL keeps
PAGES = AUTOCHECKPOINT + 100  # the file those checkpoints keep (a commit may cross the mark)
KEY = "wal_filler"
WAL_HEADER = 32
FRAME_HEADER = 24


def fill(conn: sqlite3.Connection, path: Path, synchronous: str, pages: int = PAGES) -> int:
    """Grow `path`'s WAL to `pages` frames when it is smaller; the frames written.

    Leaves `conn` at `synchronous` with the default autocheckpoint. Another
    process with the store open shares the WAL; if it grew it, nothing is done.
    """
    if synchronous != "FULL":
        return 0
    page_size = int(conn.execute("PRAGMA page_size").fetchone()[0])
    wal = path.with_name(path.name + "-wal")
    try:
        have = max(0, (wal.stat().st_size - WAL_HEADER) // (FRAME_HEADER + page_size))
    except FileNotFoundError:
        have = 0
    if have >= pages:
        return 0
    conn.execute("PRAGMA synchronous = OFF")
    conn.execute("PRAGMA wal_autocheckpoint = 0")  # a checkpoint mid-way would restart the WAL
    try:
        conn.execute("INSERT OR IGNORE INTO wdk_meta (key, value) VALUES (?1, '0')", (KEY,))
        # One changed row per commit (autocommit): one frame each (an unchanged row writes none).
        for n in range(pages - have):
            conn.execute("UPDATE wdk_meta SET value = ?2 WHERE key = ?1", (KEY, str(n)))
    finally:
        conn.execute(f"PRAGMA synchronous = {synchronous}")
        conn.execute(f"PRAGMA wal_autocheckpoint = {AUTOCHECKPOINT}")
    # Synced once here (FULL again), and checkpointed so the next commit starts the WAL over.
    conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
    return pages - have
