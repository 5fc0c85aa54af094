"""The local world keeps its SQLite locks while it is open.

POSIX record locks belong to a process, and closing ANY descriptor of a file
releases all of that process's locks on it. SQLite knows this and never closes
its own descriptors early; a plain `open(path).close()` elsewhere in the
process does not. A process holding no lock looks absent to the others: the
next one to close the store takes the exclusive lock, checkpoints, and deletes
`-wal`/`-shm` while this process keeps writing into the deleted files. These
tests open the store a second time in one process (as a second runtime would)
and check, from another process, that nothing of the first is lost.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from world_support import new_run

from wdk.worlds.local import LocalWorld

# Another process: open the store with plain sqlite3, read it, close it. When it
# believes it is the last user, SQLite checkpoints and deletes the WAL on close.
_OPEN_AND_CLOSE = """
import sqlite3, sys
conn = sqlite3.connect(sys.argv[1])
conn.execute("PRAGMA busy_timeout = 5000")
runs = sorted(r[0] for r in conn.execute("SELECT id FROM runs"))
check = conn.execute("PRAGMA integrity_check").fetchall()
conn.close()
print(",".join(runs))
print(check[0][0] if len(check) == 1 else check)
"""


def _from_another_process(path: Path) -> tuple[list[str], str]:
    out = subprocess.run(
        [sys.executable, "-c", _OPEN_AND_CLOSE, str(path)],
        capture_output=True, text=True, timeout=30, check=True,
    ).stdout.splitlines()
    return [r for r in out[0].split(",") if r], out[1]


async def test_opening_the_store_again_keeps_the_first_connections_locks(tmp_path: Path) -> None:
    first = LocalWorld(tmp_path)
    await first.open()
    try:
        before = await new_run(first)
        # A second world on the same file in this process, opened and closed.
        second = LocalWorld(tmp_path)
        await second.open()
        await second.close()

        wal = first.path.with_name(first.path.name + "-wal")
        assert wal.exists()
        runs, check = _from_another_process(first.path)
        assert runs == [before] and check == "ok"
        # Had this process lost its locks, the other one would have deleted the
        # WAL on close, and what we write next would go to a deleted file.
        assert wal.exists(), "another process deleted the WAL this process still uses"

        after = await new_run(first)
        runs, check = _from_another_process(first.path)
        assert runs == sorted([before, after]), "a confirmed write is missing"
        assert check == "ok"
    finally:
        await first.close()
