"""The `postgres` world: every process and machine shares one PostgreSQL database.

`PostgresWorld("postgresql://user:pw@host/db")` keeps everything in one schema
(`wdk` by default), migrated on open. Each write is one statement in its own
transaction, so it is committed before the caller's await returns; the server
groups concurrent commits. Idle waiters are woken by LISTEN/NOTIFY on one
dedicated connection per world (opened on first wait). The SQL lives in
`pg_schema` (tables, functions, migrations), `pg_log` and `pg_queue`;
`pg_connect` opens and migrates the store; `pg_identity` holds a worker id; this module owns the pool, error
translation and wake-ups.

Errors: a lost or refused connection is a WorldError, never a driver
exception; the pool reconnects on later calls. Reads are retried once on a
lost connection (they are safe to repeat), writes are not (a write may have
committed before the connection dropped).
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from typing import Any, TypeVar

import asyncpg

from wdk.errors import (
    RunNotFound,
    StreamClosedError,
    WdkError,
    WorldError,
)
from wdk.settings import Settings
from wdk.worlds import pg_flow, pg_log, pg_queue
from wdk.worlds.base import (
    Event,
    HookInfo,
    Lease,
    NewEvent,
    NewRun,
    Page,
    QueueDepth,
    RunInfo,
    StepInfo,
    StreamChunk,
    StreamInfo,
    SystemInfo,
    WaitInfo,
)
from wdk.worlds.pg_connect import (
    CONNECT_TIMEOUT,
    CONNECTION_ERRORS,
    KeptPool,
    connect,
    describe,
    open_pool,
    redact,
    resolve_schema,
    resolve_url,
)
from wdk.worlds.pg_identity import WorkerIdentity
from wdk.worlds.pg_log import HOOK_COLS, RUN_COLS, STEP_COLS, WAIT_COLS, require_run
from wdk.worlds.sql import (
    COUNTS_QUERY,
    ended_query,
    holders_query,
    hook_info,
    queue_depth_query,
    run_info,
    runs_page,
    runs_query,
    step_info,
    stream_chunk,
    system_info,
)
from wdk.worlds.waiting import Holders, Wakeups, follow_stream, wait_for_wakeup

_CLOCK = "extract(epoch FROM clock_timestamp())::float8"  # the queue's clock (as in pg_queue)

log = logging.getLogger("wdk")
T = TypeVar("T")
_Op = Callable[[asyncpg.Connection], Awaitable[T]]

# Fallback polls: NOTIFY wakes waiters; these only bound a missed wake-up.
QUEUE_POLL_SECONDS = 1.0
STREAM_POLL_SECONDS = 1.0
DOWN_POLL_SECONDS = 0.25  # while the LISTEN connection is being re-established
STREAM_PAGE = 256


class PostgresWorld(pg_flow.FlowMethods):
    """The scale-out world: `PostgresWorld(url, schema="wdk")`.

    `url` defaults to $WDK_POSTGRES_URL, `schema` to $WDK_POSTGRES_SCHEMA, else "wdk".
    """

    name = "postgres"

    def __init__(
        self,
        url: str | None = None,
        *,
        schema: str | None = None,
        min_connections: int = 1,
        max_connections: int = 10,
        connect_timeout: float = CONNECT_TIMEOUT,
    ) -> None:
        self.url = resolve_url(url)
        self.schema = resolve_schema(schema)
        self.target = f"{describe(self.url)} schema {self.schema!r}"
        self._min, self._max = max(min_connections, 0), max(max_connections, 1)
        self._connect_timeout = connect_timeout
        self._pool: KeptPool | None = None
        self._listener: pg_queue.Listener | None = None
        self._listener_lock = asyncio.Lock()
        self.queue_channel = f"{self.schema}.queue"
        self.stream_channel = f"{self.schema}.stream"
        self._queue_events: dict[str, asyncio.Event] = {}
        self._identity: WorkerIdentity | None = None  # the worker id this world holds
        self._stream_events: Wakeups[str] = Wakeups()  # "run id/namespace"
        self._run_locks: Holders[str, asyncio.Lock] = Holders(asyncio.Lock)
        self._secret: bytes | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> PostgresWorld:
        """The world `WDK_POSTGRES_URL` / `WDK_POSTGRES_SCHEMA` (or configure()) name."""
        return cls(settings.postgres_url, schema=settings.postgres_schema, max_connections=settings.postgres_pool)

    def __repr__(self) -> str:
        return f"PostgresWorld({self.target})"

    async def open(self) -> None:
        """Connect and create or migrate the schema; WorldError if unusable."""
        if self._pool is None:
            self._pool = KeptPool(
                await open_pool(
                    self.url,
                    self.schema,
                    min_size=min(self._min, self._max),
                    max_size=self._max,
                    connect_timeout=self._connect_timeout,
                )
            )

    async def store_secret(self) -> bytes:
        """See World.store_secret (written by migration 7)."""
        if self._secret is None:
            row = await self._fetchrow("SELECT value FROM wdk_meta WHERE key = 'store_secret'")
            self._secret = bytes.fromhex(str(row["value"]))
        return self._secret

    async def put_blobs(self, run_id: str, blobs: Mapping[str, bytes]) -> None:
        rows = [(run_id, blob_id, data) for blob_id, data in blobs.items()]
        await self._call(lambda c: c.executemany(pg_log.PUT_BLOB, rows))

    async def get_blobs(self, run_id: str, ids: Sequence[str]) -> dict[str, bytes]:
        rows = await self._fetch(pg_log.GET_BLOBS, run_id, list(ids))
        return {r["id"]: bytes(r["data"]) for r in rows}

    async def close(self) -> None:
        """Stop listening and close the pool (waiting briefly for calls in flight)."""
        listener, self._listener = self._listener, None
        if listener is not None:
            await listener.close()
        identity, self._identity = self._identity, None
        if identity is not None:
            await identity.close()
        kept, self._pool = self._pool, None
        if kept is not None:
            pool = kept.pool
            try:
                await kept.release_kept()
                await asyncio.wait_for(pool.close(), 5.0)
            except Exception:  # a dead server or a stuck call: drop the connections
                pool.terminate()
        self._wake_all()

    # --- calls -----------------------------------------------------------------------

    async def _call(self, op: _Op[T], *, read: bool = False) -> T:
        """Run `op` on a pooled connection, turning driver errors into WorldError."""
        if self._pool is None:
            raise WorldError(f"{self!r} is not open: await world.open() first")
        pool = self._pool
        for attempt in (1, 2):
            try:
                conn = await pool.acquire()
                try:
                    result = await op(conn)
                except BaseException:
                    await pool.release(conn, clean=False)
                    raise
                await pool.release(conn, clean=True)
                return result
            except (WdkError, ValueError):
                raise
            except CONNECTION_ERRORS as exc:
                if read and attempt == 1:
                    continue  # the pool replaces the dead connection: try once more
                raise WorldError(
                    f"postgres world: lost the connection to {self.target}: "
                    f"{redact(str(exc) or type(exc).__name__, self.url)}"
                ) from exc
            except asyncpg.PostgresError as exc:
                raise WorldError(f"postgres world ({self.target}): {exc}") from exc
        raise AssertionError("unreachable")

    async def _fetch(self, sql: str, *args: Any) -> list[Any]:
        rows: list[Any] = await self._call(lambda c: c.fetch(sql, *args), read=True)
        return rows

    async def _fetchrow(self, sql: str, *args: Any) -> Any:
        return await self._call(lambda c: c.fetchrow(sql, *args), read=True)

    async def _exists(self, run_id: str) -> None:
        await self._call(functools.partial(require_run, run_id=run_id), read=True)

    # --- events and runs -----------------------------------------------------------------

    async def create_run(self, run: NewRun) -> tuple[RunInfo, bool]:
        """Insert the run and its run_created event; an idempotency key returns the existing run."""
        return await self._call(functools.partial(pg_log.create_run, run=run))

    async def start_run(
        self, run: NewRun, queue: str, *, owner: str | None = None, lease_for: float = 30.0
    ) -> tuple[RunInfo, bool, Lease | None]:
        """create_run and its queue message in one statement (see World.start_run)."""
        token = pg_queue.new_token()
        info, created = await self._call(
            functools.partial(
                pg_log.start_run,
                run=run,
                queue=queue,
                owner=owner,
                lease_for=lease_for,
                token=token,
                channel=self.queue_channel,
            )
        )
        if not created or owner is None:
            return info, created, None
        return info, True, Lease(queue, run.run_id, b"", owner, token, 1)

    async def append(
        self, run_id: str, expected_seq: int, events: Sequence[NewEvent]
    ) -> list[Event]:
        """Append after `expected_seq`, projections in the same transaction (see World.append)."""
        batch = tuple(events)
        # Appends to one run from this process go in the order they were asked
        # for (as in the local world): on two connections the later one could
        # otherwise win the row lock and turn the earlier into the conflict.
        with self._run_locks.hold(run_id) as lock:
            async with lock:
                return await self._call(lambda c: pg_log.append(c, run_id, expected_seq, batch))

    async def read_events(
        self, run_id: str, after_seq: int = -1, limit: int | None = None
    ) -> list[Event]:
        """Events with seq > after_seq, in order (RunNotFound for an unknown run)."""
        rows = await self._fetch(
            "SELECT seq, type, at, correlation_id, payload FROM events "
            "WHERE run_id = $1 AND seq > $2 ORDER BY seq LIMIT $3",
            run_id,
            after_seq,
            limit,
        )
        if not rows:
            await self._exists(run_id)
        return [pg_log.event(run_id, r) for r in rows]

    async def get_run(self, run_id: str) -> RunInfo | None:
        """The run's projection, or None."""
        row = await self._fetchrow(f"SELECT {RUN_COLS} FROM runs WHERE id = $1", run_id)
        return None if row is None else run_info(row)

    async def list_runs(
        self,
        *,
        status: str | None = None,
        workflow_id: str | None = None,
        limit: int = 100,
        cursor: str | None = None,
        created_after: float | None = None,
        created_before: float | None = None,
    ) -> Page:
        """Newest first, keyset paged: pass `next_cursor` back as `cursor`."""
        sql, params = runs_query(
            RUN_COLS, status=status, workflow_id=workflow_id, cursor=cursor, limit=limit, placeholder=lambda n: f"${n}",
            created_after=created_after, created_before=created_before,
        )
        return runs_page(await self._fetch(sql, *params), limit)

    async def list_steps(self, run_id: str) -> list[StepInfo]:
        """The run's steps in creation order."""
        rows = await self._fetch(
            f"SELECT {STEP_COLS} FROM steps WHERE run_id = $1 ORDER BY seq", run_id
        )
        if not rows:
            await self._exists(run_id)
        return [step_info(r) for r in rows]

    async def list_waits(self, run_id: str) -> list[WaitInfo]:
        """The run's waits in creation order."""
        rows = await self._fetch(
            f"SELECT {WAIT_COLS} FROM waits WHERE run_id = $1 ORDER BY seq", run_id
        )
        if not rows:
            await self._exists(run_id)
        return [pg_log.wait_info(r) for r in rows]

    async def list_hooks(
        self, run_id: str | None = None, *, status: str | None = None
    ) -> list[HookInfo]:
        """Hooks of one run (or all runs), optionally only `active` or `disposed` ones."""
        where, params = ["true"], []
        for column, value in (("run_id", run_id), ("status", status)):
            if value is not None:
                params.append(value)
                where.append(f"{column} = ${len(params)}")
        rows = await self._fetch(
            f"SELECT {HOOK_COLS} FROM hooks WHERE {' AND '.join(where)} "
            "ORDER BY created_at, run_id, seq",
            *params,
        )
        return [hook_info(r) for r in rows]

    async def get_hook(self, token: str, *, include_disposed: bool = False) -> HookInfo | None:
        """The live hook holding `token`, or None (see World.get_hook)."""
        row = await self._fetchrow(
            f"SELECT {HOOK_COLS} FROM hooks WHERE token = $1 AND status = 'active'", token
        )
        if row is None and include_disposed:
            # Not indexed (the index holds live tokens only): a client's lookup, not a hot path.
            row = await self._fetchrow(
                f"SELECT {HOOK_COLS} FROM hooks WHERE token = $1 ORDER BY created_at DESC LIMIT 1",
                token,
            )
        return None if row is None else hook_info(row)

    async def active_run_ids(self, limit: int = 10_000) -> list[str]:
        """Ids of runs not yet terminal, oldest first (the reconciler's query)."""
        rows = await self._fetch(
            "SELECT id FROM runs WHERE status IN ('pending', 'running', 'blocked') "
            "ORDER BY created_at LIMIT $1",
            limit,
        )
        return [r[0] for r in rows]

    async def queue_depth(self, queue: str) -> QueueDepth:
        """Ready, scheduled and leased messages of `queue` now (the database's clock)."""
        row = await self._fetchrow(queue_depth_query("available_at", _CLOCK, "$1"), queue)
        return QueueDepth(int(row[0]), int(row[1]), int(row[2]))

    async def system_info(self, queue: str, since: float) -> SystemInfo:
        """Runs by status, the queue and its lease holders, runs ended per minute."""

        async def read(conn: asyncpg.Connection) -> SystemInfo:
            async with conn.transaction(isolation="repeatable_read", readonly=True):
                now = await conn.fetchval(f"SELECT {_CLOCK}")
                depth = await conn.fetchrow(queue_depth_query("available_at", "$2", "$1"), queue, now)
                holders = await conn.fetch(holders_query("available_at", "$2", "$1"), queue, now)
                ended = await conn.fetch(ended_query("floor(completed_at / 60)::bigint", "$1"), since)
                live = [r[0] for r in await conn.fetch(pg_queue.LIVE_WORKERS)]
                return system_info(now, await conn.fetch(COUNTS_QUERY), depth, holders, ended, live)

        info: SystemInfo = await self._call(read, read=True)
        return info

    # --- workers -----------------------------------------------------------------------

    async def claim_worker_id(self, worker_id: str | None) -> str:
        """Hold a worker id (an advisory lock on a connection of its own, for the
        world's life: `pg_identity`) and free a dead predecessor's leases at once."""
        if self._identity is not None:
            raise WorldError(f"{self!r} already holds a worker id")
        identity = WorkerIdentity(self.url, self.schema, self._connect_timeout, self.target, self.queue_channel)
        claimed = await identity.claim(worker_id)
        self._identity = identity
        return claimed

    # --- queue -------------------------------------------------------------------------

    async def enqueue(
        self,
        queue: str,
        key: str,
        payload: bytes = b"",
        *,
        delay: float = 0.0,
        only_if_absent: bool = False,
    ) -> None:
        """Add or merge a message (earliest availability wins; a leased one is marked dirty)."""
        data = bytes(payload)
        await self._call(
            lambda c: pg_queue.enqueue(
                c, self.queue_channel, queue, key, data, delay, only_if_absent
            )
        )

    async def lease(
        self, queue: str, owner: str, *, limit: int = 10, lease_for: float = 30.0
    ) -> list[Lease]:
        """Take up to `limit` available messages (expired leases included)."""
        return await self._call(lambda c: pg_queue.lease(c, queue, owner, limit, lease_for))

    async def lease_in_line(
        self, queue: str, owner: str, waiting: Sequence[tuple[int, float]], *, lease_for: float = 30.0
    ) -> tuple[list[Lease], tuple[int, float] | None]:
        """Lease for this owner's waiters ahead of every other owner's place (see World.lease_in_line)."""
        places = tuple(waiting)
        return await self._call(lambda c: pg_queue.lease_in_line(c, queue, owner, places, lease_for))

    async def wait_in_line(
        self, queue: str, owner: str, place: tuple[int, float] | None, *, ttl: float = 30.0
    ) -> None:
        """Hold, move or leave this owner's place in a limit's line (see World.wait_in_line)."""
        await self._call(lambda c: pg_queue.wait_in_line(c, queue, owner, place, ttl))

    async def ack(self, lease: Lease, *, requeue_after: float | None = None) -> None:
        """Delete the message, or keep it for `requeue_after` s; a lost lease is ignored."""
        await self._call(lambda c: pg_queue.ack(c, self.queue_channel, lease, requeue_after))

    async def extend(self, leases: Sequence[Lease], lease_for: float = 30.0) -> list[Lease]:
        """Push the leases' expiry to now + `lease_for`; returns the ones that were lost."""
        if not leases:
            return []
        batch = tuple(leases)
        return await self._call(lambda c: pg_queue.extend(c, batch, lease_for))

    def lease_renewer(self) -> pg_queue.PgLeaseRenewer:
        """A renewer for another thread, on a loop and a connection of its own."""
        return pg_queue.PgLeaseRenewer(lambda: connect(self.url, self.schema, self._connect_timeout))

    async def next_available_at(self, queue: str) -> float | None:
        """Earliest time (server clock) a message of `queue` can be leased, or None."""
        row = await self._fetchrow(pg_queue.NEXT_AVAILABLE, queue)
        return None if row[0] is None else float(row[0])

    async def wait_for_messages(self, queue: str, timeout: float) -> None:
        """Return when a message may be available (or after `timeout`): at once on a
        NOTIFY from any process, else when the earliest message falls due."""
        deadline = time.monotonic() + timeout
        listening = await self._ensure_listener()
        event = self._queue_events.setdefault(queue, asyncio.Event())
        while True:
            # Clear before the check: a NOTIFY arriving during it is not missed.
            event.clear()
            try:
                row = await self._fetchrow(pg_queue.SECONDS_UNTIL_AVAILABLE, queue)
                due_in = None if row[0] is None else float(row[0])
            except WorldError:
                due_in, listening = None, False  # server away: poll until it is back
            if due_in is not None and due_in <= 0:
                return
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return
            pause = min(remaining, QUEUE_POLL_SECONDS if listening else DOWN_POLL_SECONDS)
            if due_in is not None:
                pause = min(pause, due_in)
            # A NOTIFY (an enqueue, maybe delayed) wakes us to check again.
            await wait_for_wakeup(event, pause)
            listening = listening and self._listening()

    async def _ensure_listener(self) -> bool:
        """Start the LISTEN connection on first use; True while it is connected."""
        if self._listener is None and self._pool is not None:
            async with self._listener_lock:
                if self._listener is None:
                    listener = pg_queue.Listener(
                        lambda: connect(self.url, self.schema, self._connect_timeout),
                        (self.queue_channel, self.stream_channel),
                        self._notified,
                        self._wake_all,
                    )
                    await listener.start()
                    self._listener = listener
        return self._listening()

    def _listening(self) -> bool:
        return self._listener is not None and self._listener.connected

    def _notified(self, channel: str, payload: str) -> None:
        if channel == self.queue_channel:
            event = self._queue_events.get(payload)
            if event is not None:
                event.set()
        elif "/" in payload:
            self._stream_events.wake(payload)
        else:  # the run ended, or a rollback reopened some of its streams: wake all of its followers
            prefix = payload + "/"
            self._stream_events.wake_where(lambda key: key.startswith(prefix))

    def _wake_all(self) -> None:
        for event in self._queue_events.values():
            event.set()
        self._stream_events.wake_all()

    # --- streams ------------------------------------------------------------------------

    async def stream_append(
        self, run_id: str, namespace: str, chunks: Sequence[bytes], *, attempt: str | None = None
    ) -> int:
        """Append chunks in order (tagged with the writing attempt); the index after the last one."""
        data = [bytes(c) for c in chunks]
        end = int(
            await self._call(
                lambda c: c.fetchval(
                    "SELECT stream_append($1, $2, $3::bytea[], $4, $5)",
                    run_id,
                    namespace,
                    data,
                    self.stream_channel,
                    attempt,
                )
            )
        )
        if end == -3:
            raise RunNotFound(run_id)
        if end == -2:
            raise StreamClosedError.of(run_id, namespace, "ended with its run")
        if end == -1:
            raise StreamClosedError.of(run_id, namespace)
        return end

    async def stream_close(self, run_id: str, namespace: str, *, attempt: str | None = None) -> None:
        """Mark the stream finished (followers stop after its last chunk)."""
        found = await self._call(
            lambda c: c.fetchval(
                "SELECT stream_close($1, $2, $3, $4)", run_id, namespace, self.stream_channel, attempt
            )
        )
        if not found:
            raise RunNotFound(run_id)

    async def stream_rollback(self, run_id: str, attempt: str) -> int:
        """Hide the attempt's chunks behind one rollback marker per stream (see World)."""
        total = int(
            await self._call(
                lambda c: c.fetchval(
                    "SELECT stream_rollback($1, $2, $3)", run_id, attempt, self.stream_channel
                )
            )
        )
        if total < 0:
            raise RunNotFound(run_id)
        return total

    async def list_streams(self, run_id: str) -> list[StreamInfo]:
        """The run's streams, by namespace."""
        rows = await self._fetch(
            "SELECT namespace, next_index, closed FROM streams WHERE run_id = $1 ORDER BY namespace",
            run_id,
        )
        if not rows:
            await self._exists(run_id)
        return [StreamInfo(r[0], r[1], bool(r[2])) for r in rows]

    async def stream_read(
        self, run_id: str, namespace: str, start: int = 0, limit: int = 1000
    ) -> tuple[list[StreamChunk], bool]:
        """Up to `limit` chunks from index `start`, and whether the stream is closed."""
        # One statement, one snapshot: if it says closed, every chunk is there.
        # A stream of a run that has ended is closed (even one never written).
        rows = await self._fetch(
            "SELECT coalesce(s.closed, false) OR r.status IN ('completed', 'failed', 'cancelled'), "
            "c.idx, c.data, c.kind FROM runs r "
            "LEFT JOIN streams s ON s.run_id = r.id AND s.namespace = $2 "
            "LEFT JOIN LATERAL (SELECT idx, data, kind FROM stream_chunks WHERE run_id = s.run_id "
            "AND namespace = s.namespace AND idx >= $3 AND kind <> 1 ORDER BY idx LIMIT $4) c ON true "
            "WHERE r.id = $1 ORDER BY c.idx",
            run_id,
            namespace,
            start,
            limit,
        )
        if not rows:
            raise RunNotFound(run_id)
        chunks = [stream_chunk(r[1], r[2], r[3]) for r in rows if r[1] is not None]
        return chunks, bool(rows[0][0])

    def stream_follow(self, run_id: str, namespace: str, start: int = 0) -> AsyncIterator[StreamChunk]:
        """Chunks from `start` in order, waiting (woken by NOTIFY) until the stream is closed."""
        return follow_stream(
            lambda index: self.stream_read(run_id, namespace, index, STREAM_PAGE),
            start,
            self._stream_events,
            f"{run_id}/{namespace}",
            poll=lambda: STREAM_POLL_SECONDS if self._listening() else DOWN_POLL_SECONDS,
            first=self._ensure_listener,
        )

