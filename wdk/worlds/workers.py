"""Worker ids on one machine: a lock file per id, held while the process lives.

`wdk worker --id NAME` (or by default the lowest free `<host>-<n>`) holds
`<dir>/<id>.lock` with flock(2). The kernel drops the lock when the process
dies, however it dies, so a worker restarted after a SIGKILL finds its id free,
takes it, and knows that whatever its predecessor leased is abandoned. The
local world keeps these files under its data dir; the postgres world uses
advisory locks instead (`pg_queue`), which span machines.

flock locks belong to the open file description, never to the SQLite file:
opening and closing these files cannot drop SQLite's POSIX locks.
"""

from __future__ import annotations

import fcntl
import os
import re
import socket
from pathlib import Path

from wdk.errors import WorkerIdTaken, WorldError

MAX_SLOTS = 1000
_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")


def check_id(worker_id: str) -> str:
    """A worker id is letters, digits, '.', '_' and '-' (it is part of lease owners and file names)."""
    if not _ID.match(worker_id):
        raise ValueError(
            f"worker id {worker_id!r} must be 1-100 letters, digits, '.', '_' or '-' "
            "(starting with a letter or digit)"
        )
    return worker_id


def default_ids() -> list[str]:
    """The ids a worker without --id tries, in order: `<host>-0`, `<host>-1`, ..."""
    host = re.sub(r"[^A-Za-z0-9._-]", "-", socket.gethostname()) or "host"
    return [f"{host}-{n}" for n in range(MAX_SLOTS)]


def claim(folder: Path, worker_id: str | None) -> tuple[str, int]:
    """(the id held, its lock file's fd). WorkerIdTaken when `worker_id` is held."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise WorldError(f"cannot create {folder}: {exc}") from exc
    candidates = [check_id(worker_id)] if worker_id is not None else default_ids()
    for candidate in candidates:
        fd = os.open(folder / f"{candidate}.lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            continue
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        return candidate, fd
    if worker_id is not None:
        raise WorkerIdTaken(f"worker id {worker_id!r} is held by another live worker (lock file in {folder})")
    raise WorkerIdTaken(f"all {MAX_SLOTS} default worker ids are held (lock files in {folder})")


def live_ids(folder: Path) -> list[str]:
    """The ids held by live processes on this machine: a lock file whose pid
    (written by `claim`) is alive. Read, never locked: taking the lock to test
    it could make a worker starting at that moment skip its own id."""
    live = []
    for path in sorted(folder.glob("*.lock")) if folder.is_dir() else []:
        try:
            pid = int(path.read_text().strip() or 0)
        except (OSError, ValueError):
            continue
        if pid > 0 and _alive(pid):
            live.append(path.stem)
    return live


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: alive
        return True
    return True


def release(fd: int) -> None:
    os.ftruncate(fd, 0)  # no pid: `live_ids` does not count a process that let its id go
    os.close(fd)  # drops the flock
