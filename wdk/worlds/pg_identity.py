"""A worker id held in PostgreSQL: an advisory lock on a connection of its own.

    identity = WorkerIdentity(url, schema, connect_timeout, target, channel)
    worker_id = await identity.claim("w1")   # or None: the first free default id
    ...
    await identity.close()                   # ends the session: the lock goes with it

The lock lives and dies with its session. When that connection drops (a
server restart, a network blip) the identity takes the lock back at once, or
a worker started meanwhile could take the id and free this worker's live
leases (`pg_queue.claim_worker_id` frees a dead predecessor's leases).
"""

from __future__ import annotations

import asyncio
import logging

import asyncpg

from wdk.errors import WorkerIdTaken
from wdk.worlds import pg_queue, workers
from wdk.worlds.pg_connect import connect, connect_error

__all__ = ["WorkerIdentity"]

log = logging.getLogger("wdk")

# Reconnecting to take the lock back: the first pause, doubled up to the last.
RECONNECT_FIRST_SECONDS = 0.25
RECONNECT_MAX_SECONDS = 2.0


class WorkerIdentity:
    """One worker id of one world, held until `close()`."""

    def __init__(self, url: str, schema: str, connect_timeout: float, target: str, channel: str) -> None:
        self.url, self.schema, self.target, self.channel = url, schema, target, channel
        self._connect_timeout = connect_timeout
        self.conn: asyncpg.Connection | None = None  # holds the lock
        self._reclaim: asyncio.Future[None] | None = None  # taking it back after a drop
        self._closed = False

    async def _connect(self) -> asyncpg.Connection:
        return await connect(self.url, self.schema, self._connect_timeout)

    async def claim(self, worker_id: str | None) -> str:
        """Hold `worker_id` (or the first free default id) and free a dead
        predecessor's leases at once."""
        candidates = [workers.check_id(worker_id)] if worker_id is not None else workers.default_ids()
        try:
            conn = await self._connect()
        except Exception as exc:
            raise connect_error(exc, self.url) from exc
        try:
            claimed = await pg_queue.claim_worker_id(conn, candidates, self.channel)
        except BaseException:
            conn.terminate()
            raise
        if claimed is None:
            conn.terminate()
            which = repr(worker_id) if worker_id is not None else "every default worker id"
            raise WorkerIdTaken(f"postgres world: {which} is held by another live worker ({self.target})")
        self._hold(conn, claimed)
        return claimed

    def _hold(self, conn: asyncpg.Connection, worker_id: str) -> None:
        self.conn = conn
        conn.add_termination_listener(lambda c: self._lost(c, worker_id))

    def _lost(self, conn: asyncpg.Connection, worker_id: str) -> None:
        """The connection holding the lock dropped: the lock went with it."""
        if self.conn is not conn or self._closed:
            return  # closed on purpose
        self.conn = None
        self._reclaim = asyncio.ensure_future(self._take_back(worker_id))

    async def _take_back(self, worker_id: str) -> None:
        delay = RECONNECT_FIRST_SECONDS
        while not self._closed:
            try:
                conn = await self._connect()
            except Exception as exc:
                log.warning("wdk: cannot reconnect to hold worker id %s (next in %.2fs): %s", worker_id, delay, exc)
                await asyncio.sleep(delay)
                delay = min(delay * 2, RECONNECT_MAX_SECONDS)
                continue
            try:
                held = await conn.fetchval(pg_queue.TRY_WORKER_LOCK, worker_id)
                if held:
                    await conn.execute(pg_queue.NAME_WORKER, worker_id)
            except Exception:
                conn.terminate()
                continue
            if held and not self._closed:
                self._hold(conn, worker_id)
                return
            conn.terminate()
            if not held:
                # Its leases are being freed by the other holder: this worker's
                # lease thread finds them lost and stops those runs.
                log.error("wdk: worker id %s was taken by another worker while its connection was down", worker_id)
            return

    async def close(self) -> None:
        """Let the id go (ending the session ends the lock)."""
        self._closed = True
        conn, self.conn = self.conn, None
        reclaim, self._reclaim = self._reclaim, None
        if reclaim is not None:
            reclaim.cancel()
        if conn is not None:
            try:
                await asyncio.wait_for(conn.close(), 2.0)
            except Exception:
                conn.terminate()
