"""WAL checkpoints off the event loop: a thread of the local world's own.

SQLite's automatic checkpoint runs inside the COMMIT that crosses
`wal_autocheckpoint` pages, on the committing thread: at synchronous=NORMAL
that commit also fsyncs the WAL and the database file, a few milliseconds
every ~250 step commits (about a sixth of a sequential step's wall time on
the reference machine). Here the loop's connection checkpoints only as a
backstop (`BACKSTOP_PAGES`) and this thread runs PASSIVE checkpoints (they
never block a writer) with a connection of its own, after about as many
pages as SQLite's default would (`PAGES`, estimated from the commits) or
after a quiet second. The same pages reach the database file with the same
syncs, so durability is unchanged: a commit is in the WAL before its caller
hears of it, and the WAL is synced at least as often as before.

At synchronous=FULL every commit fsyncs the WAL anyway: the checkpoint's two
fsyncs every ~250 commits add ~1%, while running them beside the commits'
made those wait on the checkpoint's writeback (vs_dbos FULL (a): 2,545 ->
1,712 steps/s in one pair). So only NORMAL uses the thread (`wanted`).

Under a steady stream of commits a PASSIVE checkpoint never catches the
last frame, so the WAL restarts only at the backstop: the -wal file grows
to about `BACKSTOP_PAGES` pages (16 MB) instead of 4 MB.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from pathlib import Path

__all__ = ["BACKSTOP_PAGES", "PAGES", "Checkpointer", "wanted"]

log = logging.getLogger("wdk.worlds.local")

PAGES = 1000  # SQLite's default wal_autocheckpoint
PAGES_PER_OP = 4  # a step round writes ~3.9 WAL pages (docs/performance.md)
BACKSTOP_PAGES = 4 * PAGES  # the loop's connection checkpoints itself past this (a WAL of <= ~16 MB)
IDLE_SECONDS = 1.0


def wanted(synchronous: str) -> bool:
    """Whether a store opened with this `synchronous` checkpoints on the thread."""
    return synchronous == "NORMAL"


class Checkpointer:
    """Call `wrote(ops)` after each commit (cheap: a counter); `stop()` to end."""

    def __init__(self, path: Path, synchronous: str, busy_timeout_ms: int) -> None:
        self._pages = 0  # estimated pages written since the last checkpoint
        self._wake = threading.Event()
        self._stopping = False
        self.checkpoints = 0  # how many ran (for tests)
        # Opened here, not on the thread: the world holds both its connections from open() on.
        self._conn: sqlite3.Connection | None = None
        try:
            self._conn = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
            self._conn.execute(f"PRAGMA busy_timeout = {busy_timeout_ms}")
            # The checkpoint's syncs follow its connection's setting: the store's.
            self._conn.execute(f"PRAGMA synchronous = {synchronous}")
        except sqlite3.Error as exc:  # the loop's connection checkpoints (backstop)
            log.debug("wdk: no checkpoint thread for %s: %s", path, exc)
            if self._conn is not None:
                self._conn.close()
            self._conn = None
        self._path = path
        self._thread = threading.Thread(target=self._run, name="wdk-sqlite-checkpoint", daemon=True)
        self._thread.start()

    def wrote(self, ops: int) -> None:
        self._pages += ops * PAGES_PER_OP
        if self._pages >= PAGES and not self._wake.is_set():
            self._wake.set()

    def stop(self) -> None:
        self._stopping = True
        self._wake.set()
        self._thread.join()

    def _run(self) -> None:
        conn = self._conn
        if conn is None:
            return
        try:
            while not self._stopping:
                self._wake.wait(IDLE_SECONDS)
                self._wake.clear()
                if self._pages == 0 or self._stopping:
                    continue
                self._pages = 0
                try:
                    conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
                    self.checkpoints += 1
                except sqlite3.Error as exc:  # busy, or the file went: the next one catches up
                    log.debug("wdk: checkpoint of %s skipped: %s", self._path, exc)
        finally:
            conn.close()
