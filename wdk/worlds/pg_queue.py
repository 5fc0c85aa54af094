"""The postgres world's queue in SQL, and the LISTEN connection that wakes waiters.

One row per (queue, key). `available_at` is when a row can be leased: its
availability while idle, its lease expiry while leased. `pending_at` is the
dirty flag: the row was enqueued again while leased, and ack keeps it. Times
come from the server's clock, the one clock every machine shares. Leasing is
one statement: `FOR UPDATE SKIP LOCKED` picks rows no other leaser is taking,
the UPDATE claims them. Every write that may make a message available sends a
NOTIFY in its own transaction (delivered on COMMIT), so idle workers in any
process wake at once; polling is only the fallback.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import asyncpg

from wdk.worlds.base import Lease

log = logging.getLogger("wdk.worlds.postgres")
_tokens = random.Random()

_NOW = "extract(epoch FROM clock_timestamp())::float8"

# A new message whose key is a run's id takes that run's priority (a primary
# key lookup): a run queued again (a hook's resume, the reconciler) is taken in
# its place. A message merged into keeps its own.
_PRIORITY = "coalesce((SELECT priority FROM runs WHERE id = $2), 0)"

_ENQUEUE = f"""
WITH row AS (
  INSERT INTO queue (queue, key, payload, available_at, priority) VALUES ($1, $2, $3, {_NOW} + $4, {_PRIORITY})
  ON CONFLICT (queue, key) DO UPDATE SET payload = excluded.payload,
    available_at = CASE WHEN queue.owner IS NULL
      THEN least(queue.available_at, excluded.available_at) ELSE queue.available_at END,
    pending_at = CASE WHEN queue.owner IS NULL THEN NULL
      ELSE least(queue.pending_at, excluded.available_at) END
  RETURNING 1
) SELECT pg_notify($5, $1) FROM row"""

_ENQUEUE_IF_ABSENT = f"""
WITH row AS (
  INSERT INTO queue (queue, key, payload, available_at, priority) VALUES ($1, $2, $3, {_NOW} + $4, {_PRIORITY})
  ON CONFLICT (queue, key) DO NOTHING RETURNING 1
) SELECT pg_notify($5, $1) FROM row"""

_LEASE = f"""
WITH now AS (SELECT {_NOW} AS t),
picked AS (
  SELECT q.key FROM queue q, now
  WHERE q.queue = $1 AND q.available_at <= now.t
  ORDER BY q.priority DESC, q.available_at LIMIT $3 FOR UPDATE OF q SKIP LOCKED
)
UPDATE queue q SET owner = $2, available_at = now.t + $4, token = $5,
  attempts = q.attempts + 1, pending_at = NULL
FROM picked, now WHERE q.queue = $1 AND q.key = picked.key
RETURNING q.key, q.payload, q.attempts"""

# lease_in_line: the best place of another owner in the limit's line (its
# `rival`), then one message for each of our places ahead of it (best first,
# so they are a prefix), leased like _LEASE. Returns the leases, then the rival.
_LEASE_IN_LINE = f"""
WITH now AS (SELECT {_NOW} AS t),
rival AS (
  SELECT w.priority AS p, w.arrival AS a FROM limit_line w, now
  WHERE w.queue = $1 AND w.owner <> $2 AND w.expires_at > now.t
  ORDER BY w.priority DESC, w.arrival LIMIT 1
),
ahead AS (
  SELECT count(*) AS n FROM unnest($5::integer[], $6::float8[]) AS m(p, a)
  WHERE NOT EXISTS (SELECT 1 FROM rival)
    OR m.p > (SELECT p FROM rival) OR (m.p = (SELECT p FROM rival) AND m.a < (SELECT a FROM rival))
),
picked AS (
  SELECT q.key FROM queue q, now
  WHERE q.queue = $1 AND q.available_at <= now.t
  ORDER BY q.priority DESC, q.available_at LIMIT (SELECT n FROM ahead) FOR UPDATE OF q SKIP LOCKED
),
leased AS (
  UPDATE queue q SET owner = $2, available_at = now.t + $3, token = $4,
    attempts = q.attempts + 1, pending_at = NULL
  FROM picked, now WHERE q.queue = $1 AND q.key = picked.key
  RETURNING q.key, q.payload, q.attempts
)
SELECT key, payload, attempts, NULL::integer, NULL::float8 FROM leased
UNION ALL SELECT NULL, NULL, NULL, p, a FROM rival"""

_JOIN_LINE = f"""
INSERT INTO limit_line (queue, owner, priority, arrival, expires_at) VALUES ($1, $2, $3, $4, {_NOW} + $5)
ON CONFLICT (queue, owner) DO UPDATE SET priority = excluded.priority, arrival = excluded.arrival,
  expires_at = excluded.expires_at"""
_LEAVE_LINE = "DELETE FROM limit_line WHERE queue = $1 AND owner = $2"
_PRUNE_LINE = f"DELETE FROM limit_line WHERE queue = $1 AND expires_at < {_NOW} - 60"

_MATCH = "queue = $1 AND key = $2 AND token = $3 AND owner = $4"

_ACK_DELETE = f"DELETE FROM queue WHERE {_MATCH} AND pending_at IS NULL"

# Dirty or requeued: keep the row, available at the earlier of the two times.
_ACK_KEEP = f"""
WITH row AS (
  UPDATE queue SET owner = NULL, pending_at = NULL, attempts = 0,
    available_at = least(pending_at, {_NOW} + $5)
  WHERE {_MATCH} AND (pending_at IS NOT NULL OR $5::float8 IS NOT NULL)
  RETURNING 1
) SELECT pg_notify($6, $1) FROM row"""

# One statement for every lease; the rows it returns are the leases still held.
_EXTEND = f"""
UPDATE queue q SET available_at = {_NOW} + $5
FROM unnest($1::text[], $2::text[], $3::bigint[], $4::text[]) AS l(queue, key, token, owner)
WHERE q.queue = l.queue AND q.key = l.key AND q.token = l.token AND q.owner = l.owner
RETURNING q.queue, q.key, q.token, q.owner"""

# Worker ids: a session advisory lock per (schema, id), held by the world's
# identity connection for its life; the server drops it when the holder's
# connection ends (a killed process's socket closes with it).
TRY_WORKER_LOCK = (
    "SELECT pg_try_advisory_lock(hashtextextended('wdk worker ' || current_schema() || ' ' || $1, 0))"
)
# The lock's connection says whose it is, so `LIVE_WORKERS` can list the
# workers alive now: their connections are (application_name is at most 63 bytes).
NAME_WORKER = "SELECT set_config('application_name', left('wdk worker ' || current_schema() || ' ' || $1, 63), false)"
LIVE_WORKERS = """
SELECT substr(application_name, length('wdk worker ' || current_schema() || ' ') + 1)
FROM pg_stat_activity
WHERE datname = current_database() AND starts_with(application_name, 'wdk worker ' || current_schema() || ' ')
ORDER BY 1
"""

# A dead predecessor's leases (owners ending in '@<id>'): available now.
_RELEASE_PREDECESSORS = f"""
WITH freed AS (
  UPDATE queue SET available_at = {_NOW}
  WHERE owner IS NOT NULL AND right(owner, length($1)) = $1 AND available_at > {_NOW}
  RETURNING queue
) SELECT pg_notify($2, q) FROM (SELECT DISTINCT queue AS q FROM freed) d"""

NEXT_AVAILABLE = "SELECT min(available_at) FROM queue WHERE queue = $1"
SECONDS_UNTIL_AVAILABLE = f"SELECT min(available_at) - {_NOW} FROM queue WHERE queue = $1"


async def enqueue(
    conn: asyncpg.Connection,
    channel: str,
    queue: str,
    key: str,
    payload: bytes,
    delay: float,
    only_if_absent: bool,
) -> None:
    """Insert, or merge into the row with this key (the earlier availability wins)."""
    sql = _ENQUEUE_IF_ABSENT if only_if_absent else _ENQUEUE
    await conn.execute(sql, queue, key, payload, max(delay, 0.0), channel)


def new_token() -> int:
    """A fresh random lease token: a stale holder's ack or extend matches nothing."""
    return _tokens.getrandbits(62)


async def lease(
    conn: asyncpg.Connection, queue: str, owner: str, limit: int, lease_for: float
) -> list[Lease]:
    """Lease up to `limit` ready rows (idle and due, or lease expired), earliest first."""
    # A fresh random token per lease: a stale holder's ack or extend matches nothing.
    token = _tokens.getrandbits(62)
    rows = await conn.fetch(_LEASE, queue, owner, max(limit, 0), lease_for, token)
    return [Lease(queue, r[0], r[1], owner, token, r[2]) for r in rows]


async def lease_in_line(
    conn: asyncpg.Connection, queue: str, owner: str, waiting: Sequence[tuple[int, float]], lease_for: float
) -> tuple[list[Lease], tuple[int, float] | None]:
    """See World.lease_in_line: one statement."""
    token = _tokens.getrandbits(62)
    rows = await conn.fetch(
        _LEASE_IN_LINE, queue, owner, lease_for, token, [p for p, _ in waiting], [a for _, a in waiting]
    )
    leases = [Lease(queue, r[0], r[1], owner, token, r[2]) for r in rows if r[0] is not None]
    rival = next(((int(r[3]), float(r[4])) for r in rows if r[0] is None), None)
    return leases, rival


async def wait_in_line(
    conn: asyncpg.Connection, queue: str, owner: str, place: tuple[int, float] | None, ttl: float
) -> None:
    """See World.wait_in_line."""
    if place is None:
        await conn.execute(_LEAVE_LINE, queue, owner)
        return
    await conn.execute(_JOIN_LINE, queue, owner, place[0], place[1], ttl)
    await conn.execute(_PRUNE_LINE, queue)


async def ack(
    conn: asyncpg.Connection, channel: str, lease: Lease, requeue_after: float | None
) -> None:
    """Delete the leased row, or keep it (requeued, or enqueued again while leased)."""
    ident = (lease.queue, lease.key, lease.token, lease.owner)
    if requeue_after is None:
        done = await conn.execute(_ACK_DELETE, *ident)
        if done != "DELETE 0":
            return
    after = None if requeue_after is None else max(requeue_after, 0.0)
    await conn.execute(_ACK_KEEP, *ident, after, channel)


async def extend(conn: asyncpg.Connection, leases: Sequence[Lease], lease_for: float) -> list[Lease]:
    """Move the leases' expiry to now + `lease_for`; returns the leases that were
    lost (acked, or expired and taken by another owner): those match nothing."""
    rows = await conn.fetch(
        _EXTEND,
        [x.queue for x in leases],
        [x.key for x in leases],
        [x.token for x in leases],
        [x.owner for x in leases],
        lease_for,
    )
    held = {(r[0], r[1], r[2], r[3]) for r in rows}
    return [x for x in leases if (x.queue, x.key, x.token, x.owner) not in held]


async def claim_worker_id(conn: asyncpg.Connection, candidates: Sequence[str], channel: str) -> str | None:
    """Lock the first free id of `candidates` on `conn` and free its
    predecessors' leases; None when every candidate is held."""
    for candidate in candidates:
        if await conn.fetchval(TRY_WORKER_LOCK, candidate):
            await conn.execute(NAME_WORKER, candidate)
            await conn.execute(_RELEASE_PREDECESSORS, "@" + candidate, channel)
            return candidate
    return None


class PgLeaseRenewer:
    """Renews leases from the runtime's lease thread, on an event loop and a
    connection of its own: a worker whose main loop is blocked still holds its runs."""

    def __init__(self, connect: Callable[[], Awaitable[asyncpg.Connection]]) -> None:
        self._connect = connect
        self._loop: asyncio.AbstractEventLoop | None = None
        self._conn: asyncpg.Connection | None = None

    def extend(self, leases: Sequence[Lease], lease_for: float) -> list[Lease]:
        if self._loop is None:
            self._loop = asyncio.new_event_loop()
        return self._loop.run_until_complete(self._extend(leases, lease_for))

    async def _extend(self, leases: Sequence[Lease], lease_for: float) -> list[Lease]:
        if self._conn is None or self._conn.is_closed():
            self._conn = await self._connect()
        try:
            return await extend(self._conn, leases, lease_for)
        except BaseException:
            conn, self._conn = self._conn, None  # a fresh connection next time
            conn.terminate()
            raise

    def close(self) -> None:
        loop, self._loop = self._loop, None
        if loop is None:
            return
        if self._conn is not None:
            with contextlib.suppress(Exception):
                loop.run_until_complete(asyncio.wait_for(self._conn.close(), 2.0))
            self._conn = None
        loop.close()


class Listener:
    """The LISTEN connection: calls `on_notify(channel, payload)` for each NOTIFY.

    It reconnects with backoff when the connection is lost and calls `on_gap()`
    once it is back (notifications sent meanwhile are gone: waiters re-check).
    """

    BACKOFF_START = 0.05
    BACKOFF_MAX = 2.0

    def __init__(
        self,
        connect: Callable[[], Awaitable[asyncpg.Connection]],
        channels: Sequence[str],
        on_notify: Callable[[str, str], None],
        on_gap: Callable[[], None],
    ) -> None:
        self._connect = connect
        self._channels = tuple(channels)
        self._on_notify = on_notify
        self._on_gap = on_gap
        self._conn: asyncpg.Connection | None = None
        self._task: asyncio.Task[None] | None = None
        self._lost = asyncio.Event()
        self._closed = False
        self.reconnects = 0

    @property
    def connected(self) -> bool:
        return self._conn is not None and not self._conn.is_closed()

    async def start(self) -> None:
        """Listen now if the server answers; keep trying in the background otherwise."""
        try:
            await self._listen()
        except Exception as exc:
            log.warning("wdk: postgres LISTEN connection failed, retrying: %s", exc)
        self._task = asyncio.ensure_future(self._keep_alive())

    async def _listen(self) -> None:
        conn = await self._connect()
        try:
            for channel in self._channels:
                await conn.add_listener(channel, self._notified)
        except BaseException:
            conn.terminate()
            raise
        conn.add_termination_listener(self._terminated)
        self._conn = conn
        self._lost.clear()

    def _notified(self, _conn: Any, _pid: int, channel: str, payload: str) -> None:
        self._on_notify(channel, payload)

    def _terminated(self, _conn: Any) -> None:
        self._lost.set()

    async def _keep_alive(self) -> None:
        delay = self.BACKOFF_START
        while not self._closed:
            if self.connected:
                await self._lost.wait()
                delay = self.BACKOFF_START
                continue
            self._conn = None
            try:
                await self._listen()
            except Exception as exc:
                log.warning("wdk: postgres LISTEN reconnect failed (next in %.2fs): %s", delay, exc)
                await asyncio.sleep(delay)
                delay = min(delay * 2, self.BACKOFF_MAX)
                continue
            self.reconnects += 1
            self._on_gap()

    async def close(self) -> None:
        self._closed = True
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        conn, self._conn = self._conn, None
        if conn is not None and not conn.is_closed():
            try:
                await asyncio.wait_for(conn.close(), 2.0)
            except Exception:
                conn.terminate()
