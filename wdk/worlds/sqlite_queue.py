"""The local world's queue in SQL: one row per (queue, key).

`ready_at` is when a row can be leased: its availability while idle, its lease
expiry while leased, so one index serves every lease query. `pending_at` is
the "dirty" flag: the row was enqueued again while leased, and ack keeps it.
Functions of a connection, called inside the group commit (see `sqlite_commit.py`).
"""

from __future__ import annotations

import os
import random
import socket
import sqlite3
import time
from collections.abc import Sequence

from wdk.worlds.base import Lease

_HOST = socket.gethostname()
# Owners this process has leased with: a lease carrying our pid but an owner
# we never used belongs to a dead predecessor that had the same pid.
_OWNERS_IN_THIS_PROCESS: set[str] = set()
_tokens = random.Random()


# The priority of a new message: its run's (a primary key lookup), else the one given.
_PRIORITY = "coalesce((SELECT priority FROM runs WHERE id = ?2), ?5)"


def enqueue(
    conn: sqlite3.Connection | sqlite3.Cursor,
    queue: str,
    key: str,
    payload: bytes,
    at: float,
    only_if_absent: bool = False,
    priority: int = 0,
) -> None:
    """Insert, or merge into the row with this key (the earlier availability
    wins; the row keeps its priority). A new row whose key is a run's id takes
    that run's priority: a run queued again (a hook's resume, the reconciler)
    is taken in its place."""
    if only_if_absent:
        conn.execute(
            f"INSERT INTO queue (queue, key, payload, ready_at, priority) VALUES (?, ?, ?, ?, {_PRIORITY}) "
            "ON CONFLICT (queue, key) DO NOTHING",
            (queue, key, payload, at, priority),
        )
        return
    conn.execute(
        # While leased, ready_at is the lease expiry: the new work goes to pending_at.
        f"INSERT INTO queue (queue, key, payload, ready_at, priority) VALUES (?, ?, ?, ?, {_PRIORITY}) "
        "ON CONFLICT (queue, key) DO UPDATE SET payload = excluded.payload, "
        "ready_at = CASE WHEN owner IS NULL THEN min(ready_at, excluded.ready_at) "
        "ELSE ready_at END, "
        "pending_at = CASE WHEN owner IS NULL THEN NULL "
        "ELSE min(coalesce(pending_at, excluded.ready_at), excluded.ready_at) END",
        (queue, key, payload, at, priority),
    )


def insert_leased(
    conn: sqlite3.Connection | sqlite3.Cursor, queue: str, key: str, owner: str, lease_for: float, priority: int = 0
) -> Lease:
    """A new message, leased to `owner` from the start (see World.start_run)."""
    token = _tokens.getrandbits(62)
    conn.execute(
        "INSERT INTO queue (queue, key, payload, ready_at, owner, token, attempts, priority) "
        "VALUES (?, ?, ?, ?, ?, ?, 1, ?)",
        (queue, key, b"", time.time() + lease_for, owner, token, priority),
    )
    return Lease(queue, key, b"", owner, token, 1)


def release_predecessors(conn: sqlite3.Connection, worker_id: str) -> int:
    """Make the messages leased by earlier owners of `worker_id` available now."""
    now = time.time()
    suffix = "@" + worker_id
    cur = conn.execute(
        "UPDATE queue SET ready_at = ? WHERE owner IS NOT NULL "
        "AND substr(owner, -?) = ? AND ready_at > ?",
        (now, len(suffix), suffix, now),
    )
    return cur.rowcount


def register_owner(owner: str) -> None:
    """Remember that this process leases as `owner` (so it is never taken for dead)."""
    _OWNERS_IN_THIS_PROCESS.add(owner)


_HOLDERS = (
    "WITH RECURSIVE o(owner) AS ("
    " SELECT min(owner) FROM queue WHERE queue = ?1 AND owner IS NOT NULL"
    " UNION ALL SELECT (SELECT min(owner) FROM queue WHERE queue = ?2 AND owner > o.owner)"
    " FROM o WHERE o.owner IS NOT NULL"
    ") SELECT owner FROM o WHERE owner IS NOT NULL"
)


def lease(
    conn: sqlite3.Connection, queue: str, owner: str, limit: int, lease_for: float
) -> list[Lease]:
    """Lease up to `limit` rows that are ready, oldest first."""
    now = time.time()
    # The owners holding leases, one index seek each (a loose index scan over
    # queue_owners): a queue with many leased rows and few owners -- a rate
    # limit's tokens -- is not read row by row. An owner whose leases all
    # expired is harmless here: the UPDATE below matches none of its rows.
    holders = conn.execute(_HOLDERS, (queue, queue)).fetchall()
    dead = [(now, queue, h[0], now) for h in holders if owner_is_dead(h[0])]
    if dead:
        # A dead process's lease expires now, not at its timeout.
        conn.executemany(
            "UPDATE queue SET ready_at = ? WHERE queue = ? AND owner = ? AND ready_at > ?", dead
        )
    # A fresh random token per lease: a stale holder's ack or extend matches nothing.
    token = _tokens.getrandbits(62)
    rows = conn.execute(
        "UPDATE queue SET owner = ?, ready_at = ?, token = ?, attempts = attempts + 1, "
        "pending_at = NULL WHERE rowid IN (SELECT rowid FROM queue WHERE queue = ? "
        "AND ready_at <= ? ORDER BY priority DESC, ready_at LIMIT ?) RETURNING key, payload, attempts",
        (owner, now + lease_for, token, queue, now, limit),
    ).fetchall()
    return [Lease(queue, r[0], r[1], owner, token, r[2]) for r in rows]


Place = tuple[int, float]  # (priority, arrival): higher priority first, then earlier arrival


def ahead(place: Place, other: Place | None) -> bool:
    """Whether `place` comes before `other` in a line (None: nobody)."""
    return other is None or place[0] > other[0] or (place[0] == other[0] and place[1] < other[1])


def lease_in_line(
    conn: sqlite3.Connection, queue: str, owner: str, waiting: Sequence[Place], lease_for: float
) -> tuple[list[Lease], Place | None]:
    """See World.lease_in_line."""
    now = time.time()
    while True:
        row = conn.execute(
            "SELECT owner, priority, arrival FROM limit_line WHERE queue = ? AND owner <> ? "
            "AND expires_at > ? ORDER BY priority DESC, arrival LIMIT 1",
            (queue, owner, now),
        ).fetchone()
        if row is None or not owner_is_dead(row[0]):
            break
        # A dead process's place is given up now, not when it expires.
        conn.execute("DELETE FROM limit_line WHERE queue = ? AND owner = ?", (queue, row[0]))
    rival: Place | None = None if row is None else (row[1], row[2])
    n = 0
    while n < len(waiting) and ahead(waiting[n], rival):
        n += 1
    return (lease(conn, queue, owner, n, lease_for) if n else []), rival


def wait_in_line(conn: sqlite3.Connection, queue: str, owner: str, place: Place | None, ttl: float) -> None:
    """See World.wait_in_line."""
    now = time.time()
    if place is None:
        conn.execute("DELETE FROM limit_line WHERE queue = ? AND owner = ?", (queue, owner))
        return
    conn.execute(
        "INSERT INTO limit_line (queue, owner, priority, arrival, expires_at) VALUES (?, ?, ?, ?, ?) "
        "ON CONFLICT (queue, owner) DO UPDATE SET priority = excluded.priority, "
        "arrival = excluded.arrival, expires_at = excluded.expires_at",
        (queue, owner, place[0], place[1], now + ttl),
    )
    # Places of processes long gone: keep the table small.
    conn.execute("DELETE FROM limit_line WHERE queue = ? AND expires_at < ?", (queue, now - 60.0))


def ack(conn: sqlite3.Connection | sqlite3.Cursor, lease: Lease, requeue_after: float | None) -> bool:
    """Delete or keep the leased row; True when it stays (requeued or dirty)."""
    ident = (lease.queue, lease.key, lease.token, lease.owner)
    match = "queue = ? AND key = ? AND token = ? AND owner = ?"
    at: float | None = None
    if requeue_after is None:
        cur = conn.execute(f"DELETE FROM queue WHERE {match} AND pending_at IS NULL", ident)
        if cur.rowcount:
            return False
    else:
        at = time.time() + max(requeue_after, 0.0)
    # Dirty or requeued: keep it, available at the earlier of the two times.
    cur = conn.execute(
        "UPDATE queue SET owner = NULL, "
        "ready_at = min(coalesce(pending_at, ?), coalesce(?, pending_at)), "
        f"pending_at = NULL, attempts = 0 WHERE {match} "
        "AND (pending_at IS NOT NULL OR ? IS NOT NULL)",
        (at, at, *ident, at),
    )
    return cur.rowcount > 0


def extend(conn: sqlite3.Connection, leases: Sequence[Lease], until: float) -> list[Lease]:
    """Move the leases' expiry to `until`; returns the leases that were lost
    (acked, or expired and taken by another owner): those match nothing."""
    lost: list[Lease] = []
    for x in leases:
        cur = conn.execute(
            "UPDATE queue SET ready_at = ? WHERE queue = ? AND key = ? AND token = ? AND owner = ?",
            (until, x.queue, x.key, x.token, x.owner),
        )
        if cur.rowcount == 0:
            lost.append(x)
    return lost


class SqliteLeaseRenewer:
    """Renews leases on a connection of its own, from the runtime's lease thread:
    a worker whose event loop is blocked (a step that never yields) still holds
    its runs. Opened lazily in the thread that uses it; SQLite's own locking
    keeps it safe beside the world's connection."""

    def __init__(self, path: str, busy_timeout_ms: int) -> None:
        self._path = path
        self._busy_timeout_ms = busy_timeout_ms
        self._conn: sqlite3.Connection | None = None

    def extend(self, leases: Sequence[Lease], lease_for: float) -> list[Lease]:
        if self._conn is None:
            self._conn = sqlite3.connect(
                self._path, isolation_level=None, check_same_thread=False, timeout=self._busy_timeout_ms / 1000
            )
        conn = self._conn
        conn.execute("BEGIN IMMEDIATE")
        try:
            lost = extend(conn, leases, time.time() + lease_for)
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")
        return lost

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None


def next_available_at(conn: sqlite3.Connection, queue: str) -> float | None:
    """Earliest ready_at of the queue (a lease expiry counts), or None when empty."""
    row = conn.execute("SELECT min(ready_at) FROM queue WHERE queue = ?", (queue,)).fetchone()
    return None if row[0] is None else float(row[0])


def owner_is_dead(owner: str) -> bool:
    """Owners are "host:pid:anything"; only owners on this host can be checked."""
    parts = owner.split(":", 2)
    if len(parts) < 2 or parts[0] != _HOST or not parts[1].isdigit():
        return False
    pid = int(parts[1])
    if pid == os.getpid():
        return owner not in _OWNERS_IN_THIS_PROCESS
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    try:  # a killed child not yet reaped is a zombie: dead for our purposes
        with open(f"/proc/{pid}/stat", "rb") as f:
            return f.read().rsplit(b")", 1)[1].split()[0] == b"Z"
    except (OSError, IndexError):
        return False
