"""The `local` world: one SQLite file (WAL) under the data dir, no setup.

Every write goes through a group commit (`sqlite_commit`: one transaction
per event loop tick, futures resolved after COMMIT). The SQL lives in
`sqlite_log` (events, projections) and `sqlite_queue`; this module owns the
connection's lifetime and the wake-ups.
"""

from __future__ import annotations

import asyncio
import functools
import sqlite3
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from pathlib import Path

import msgspec

from wdk.errors import WorldError
from wdk.settings import Settings
from wdk.worlds import sqlite_flow, sqlite_log, sqlite_queue, sqlite_streams, sqlite_wal, workers
from wdk.worlds.base import (
    TERMINAL_TYPES,
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
    system_info,
)
from wdk.worlds.sqlite_checkpoint import BACKSTOP_PAGES, Checkpointer
from wdk.worlds.sqlite_checkpoint import wanted as checkpoint_thread
from wdk.worlds.sqlite_commit import GroupCommit
from wdk.worlds.sqlite_keys import RUN_NUM, SEQ_BITS, SEQ_MASK, run_keys
from wdk.worlds.sqlite_log import HOOK_COLS, RUN_COLS, STEP_COLS, require_run
from wdk.worlds.sqlite_schema import (
    BUSY_TIMEOUT_MS,
    FILE_NAME,
    connect,
    resolve_data_dir,
    resolve_synchronous,
)
from wdk.worlds.waiting import Wakeups, follow_stream

_decode = msgspec.json.Decoder().decode

QUEUE_POLL_SECONDS = 0.05
STREAM_POLL_SECONDS = 0.2
STREAM_PAGE = 256


class LocalWorld(sqlite_flow.FlowMethods):
    """The embedded world: `LocalWorld(".wdk")` keeps everything in `.wdk/wdk.sqlite3`."""

    name = "local"

    @staticmethod
    def connections(synchronous: str) -> int:
        """SQLite connections an open world holds: the loop's, and at NORMAL the checkpoint thread's."""
        return 2 if checkpoint_thread(synchronous) else 1

    def __init__(
        self, data_dir: str | Path | None = None, *, synchronous: str | None = None
    ) -> None:
        self.data_dir = resolve_data_dir(data_dir)
        self.synchronous = resolve_synchronous(synchronous)
        self.path = self.data_dir / FILE_NAME
        self._conn: sqlite3.Connection | None = None
        # The group commit: its methods bound here, so a write costs no extra call.
        self._commit = GroupCommit(self.path, repr(self))
        self._write = self._commit.write
        self._sync = self._commit.sync
        self._append = self._commit.append
        self._queue_events: dict[str, asyncio.Event] = {}
        self._worker_lock: tuple[str, int] | None = None  # (worker id, its lock file's fd)
        self._stream_waiters: Wakeups[tuple[str, str]] = Wakeups()  # (run id, namespace)
        self._secret: bytes | None = None
        self._checkpointer: Checkpointer | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> LocalWorld:
        """The world `WDK_DATA_DIR` / `WDK_SQLITE_SYNCHRONOUS` (or configure()) describe."""
        return cls(settings.data_dir, synchronous=settings.sqlite_synchronous)

    def __repr__(self) -> str:
        return f"LocalWorld({str(self.data_dir)!r}, synchronous={self.synchronous!r})"

    async def open(self) -> None:
        """Create or migrate the store; WorldError if it is unusable."""
        if self._conn is None:
            self._conn = connect(self.data_dir, self.synchronous)
            if checkpoint_thread(self.synchronous):
                # Checkpoints run on a thread of their own; this connection's are a backstop.
                self._conn.execute(f"PRAGMA wal_autocheckpoint = {BACKSTOP_PAGES}")
                self._checkpointer = Checkpointer(self.path, self.synchronous, BUSY_TIMEOUT_MS)
            else:
                sqlite_wal.fill(self._conn, self.path, self.synchronous)
            self._commit.attach(self._conn, self._checkpointer)
            self._queue_events = {}
            self._stream_waiters = Wakeups()

    async def close(self) -> None:
        """Commit what is pending and close the file."""
        if self._conn is not None:
            self._commit.detach()
            if self._checkpointer is not None:
                self._checkpointer.stop()
                self._checkpointer = None
            self._conn.close()
            self._conn = None
        if self._worker_lock is not None:
            workers.release(self._worker_lock[1])
            self._worker_lock = None

    async def store_secret(self) -> bytes:
        """See World.store_secret (written by migration 7)."""
        if self._secret is None:
            row = self._sync().execute("SELECT value FROM wdk_meta WHERE key = 'store_secret'").fetchone()
            self._secret = bytes.fromhex(row[0])
        return self._secret

    async def put_blobs(self, run_id: str, blobs: Mapping[str, bytes]) -> None:
        """See World.put_blobs (in the group commit, so with the next append at the latest)."""
        rows = [(run_id, blob_id, data) for blob_id, data in blobs.items()]
        await self._write(lambda: self._db.executemany(
            "INSERT OR IGNORE INTO blobs (run_id, id, data) VALUES (?, ?, ?)", rows
        ))

    async def get_blobs(self, run_id: str, ids: Sequence[str]) -> dict[str, bytes]:
        """See World.get_blobs."""
        db = self._sync()
        found = {}
        for blob_id in dict.fromkeys(ids):
            row = db.execute("SELECT data FROM blobs WHERE run_id = ? AND id = ?", (run_id, blob_id)).fetchone()
            if row is not None:
                found[blob_id] = bytes(row[0])
        return found

    @property
    def _db(self) -> sqlite3.Connection:
        if self._conn is None:
            raise WorldError(f"{self!r} is not open: await world.open() first")
        return self._conn

    # --- events and runs -------------------------------------------------------------

    async def create_run(self, run: NewRun) -> tuple[RunInfo, bool]:
        """Insert the run and its run_created event; an idempotency key returns the existing run."""
        result: tuple[RunInfo, bool] = await self._write(
            functools.partial(sqlite_log.create_run, self._db, run)
        )
        return result

    async def start_run(
        self, run: NewRun, queue: str, *, owner: str | None = None, lease_for: float = 30.0
    ) -> tuple[RunInfo, bool, Lease | None]:
        """create_run and its queue message in one transaction (see World.start_run)."""
        if owner is not None:
            sqlite_queue.register_owner(owner)
        result: tuple[RunInfo, bool, Lease | None] = await self._write(self._start_run, run, queue, owner, lease_for)
        if result[1] and owner is None:
            self._wake_queue(queue)
        return result

    def _start_run(
        self, run: NewRun, queue: str, owner: str | None, lease_for: float
    ) -> tuple[RunInfo, bool, Lease | None]:
        db = self._commit.cursor or self._db  # the group commit's cursor: no cursor made per statement
        info, state = sqlite_log.create_run_state(db, run)
        if state is None:  # it existed (its idempotency key)
            return info, False, None
        lease = None
        if owner is not None:
            lease = sqlite_queue.insert_leased(db, queue, run.run_id, owner, lease_for, run.priority)
        else:
            sqlite_queue.enqueue(db, queue, run.run_id, b"", time.time(), priority=run.priority)
        self._commit.created(run.run_id, state)  # its first append skips the read
        return info, True, lease

    async def append(
        self, run_id: str, expected_seq: int, events: Sequence[NewEvent]
    ) -> list[Event]:
        """Append after `expected_seq`, projections in the same transaction (see World.append)."""
        result: list[Event] = await self._write(self._append, run_id, expected_seq, tuple(events), eager=True)
        if self._stream_waiters and any(e.type in TERMINAL_TYPES for e in events):
            self._wake_stream(run_id)  # its streams closed with it: followers end
        return result

    async def read_events(
        self, run_id: str, after_seq: int = -1, limit: int | None = None
    ) -> list[Event]:
        """Events with seq > after_seq, in order (RunNotFound for an unknown run)."""
        rows = (
            self._sync()
            .execute(
                f"SELECT k & {SEQ_MASK}, type, at, correlation_id, payload FROM events "
                f"WHERE k > (({RUN_NUM}) << {SEQ_BITS}) + ?2 AND k <= (({RUN_NUM}) << {SEQ_BITS}) | {SEQ_MASK} "
                "ORDER BY k LIMIT ?3",
                (run_id, after_seq, -1 if limit is None else limit),
            )
            .fetchall()
        )
        if not rows:
            require_run(self._db, run_id)
        return [Event(run_id, r[0], r[1], r[2], r[3], _decode(r[4])) for r in rows]

    async def get_run(self, run_id: str) -> RunInfo | None:
        """The run's projection, or None."""
        row = (
            self._sync().execute(f"SELECT {RUN_COLS} FROM runs WHERE id = ?", (run_id,)).fetchone()
        )
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
            RUN_COLS, status=status, workflow_id=workflow_id, cursor=cursor, limit=limit, placeholder=lambda _: "?",
            created_after=created_after, created_before=created_before,
        )
        return runs_page(self._sync().execute(sql, params).fetchall(), limit)

    async def list_steps(self, run_id: str) -> list[StepInfo]:
        """The run's steps in creation order."""
        rows = (
            self._sync()
            .execute(
                f"SELECT {STEP_COLS} FROM steps WHERE {run_keys(RUN_NUM)} ORDER BY seq",
                (run_id,),
            )
            .fetchall()
        )
        if not rows:
            require_run(self._db, run_id)
        return [step_info(r) for r in rows]

    async def list_waits(self, run_id: str) -> list[WaitInfo]:
        """The run's waits in creation order."""
        rows = (
            self._sync()
            .execute(
                "SELECT run_id, correlation_id, resume_at, status, created_at FROM waits "
                "WHERE run_id = ? ORDER BY seq",
                (run_id,),
            )
            .fetchall()
        )
        if not rows:
            require_run(self._db, run_id)
        return [WaitInfo(*r) for r in rows]

    async def list_hooks(
        self, run_id: str | None = None, *, status: str | None = None
    ) -> list[HookInfo]:
        """Hooks of one run (or all runs), optionally only `active` or `disposed` ones."""
        where, params = ["1"], []
        if run_id is not None:
            where.append("run_id = ?")
            params.append(run_id)
        if status is not None:
            where.append("status = ?")
            params.append(status)
        rows = (
            self._sync()
            .execute(
                f"SELECT {HOOK_COLS} FROM hooks WHERE {' AND '.join(where)} ORDER BY created_at, run_id, seq",
                params,
            )
            .fetchall()
        )
        return [hook_info(r) for r in rows]

    async def get_hook(self, token: str, *, include_disposed: bool = False) -> HookInfo | None:
        """The live hook holding `token`, or None (see World.get_hook)."""
        db = self._sync()
        row = db.execute(
            f"SELECT {HOOK_COLS} FROM hooks WHERE token = ? AND status = 'active'", (token,)
        ).fetchone()
        if row is None and include_disposed:
            # Not indexed (the index holds live tokens only): a client's lookup, not a hot path.
            row = db.execute(
                f"SELECT {HOOK_COLS} FROM hooks WHERE token = ? ORDER BY created_at DESC LIMIT 1",
                (token,),
            ).fetchone()
        return None if row is None else hook_info(row)

    async def active_run_ids(self, limit: int = 10_000) -> list[str]:
        """Ids of runs not yet terminal, oldest first (the reconciler's query)."""
        rows = (
            self._sync()
            .execute(
                "SELECT id FROM runs WHERE status IN ('pending', 'running', 'blocked') ORDER BY created_at LIMIT ?",
                (limit,),
            )
            .fetchall()
        )
        return [r[0] for r in rows]

    async def queue_depth(self, queue: str) -> QueueDepth:
        """Ready, scheduled and leased messages of `queue` now."""
        params = {"now": time.time(), "queue": queue}
        row = self._sync().execute(queue_depth_query("ready_at", ":now", ":queue"), params).fetchone()
        return QueueDepth(int(row[0]), int(row[1]), int(row[2]))

    async def system_info(self, queue: str, since: float) -> SystemInfo:
        """Runs by status, the queue and its lease holders, runs ended per minute."""
        db, now = self._sync(), time.time()
        params = {"now": now, "queue": queue}
        depth = db.execute(queue_depth_query("ready_at", ":now", ":queue"), params).fetchone()
        holders = db.execute(holders_query("ready_at", ":now", ":queue"), params).fetchall()
        ended = db.execute(ended_query("CAST(completed_at / 60 AS INTEGER)", "?"), (since,)).fetchall()
        live = workers.live_ids(self.data_dir / "workers")
        return system_info(now, db.execute(COUNTS_QUERY).fetchall(), depth, holders, ended, live)

    # --- workers -----------------------------------------------------------------------

    async def claim_worker_id(self, worker_id: str | None) -> str:
        """Hold a worker id (a lock file under the data dir, freed by the kernel
        when the process dies) and free a dead predecessor's leases at once."""
        if self._worker_lock is not None:
            raise WorldError(f"{self!r} already holds worker id {self._worker_lock[0]!r}")
        claimed, fd = workers.claim(self.data_dir / "workers", worker_id)
        self._worker_lock = (claimed, fd)
        await self._write(functools.partial(sqlite_queue.release_predecessors, self._db, claimed))
        self._wake_all_queues()
        return claimed

    def _wake_all_queues(self) -> None:
        for event in self._queue_events.values():
            event.set()

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
        at = time.time() + max(delay, 0.0)
        await self._write(
            functools.partial(
                sqlite_queue.enqueue, self._db, queue, key, bytes(payload), at, only_if_absent
            )
        )
        self._wake_queue(queue)

    async def lease(
        self, queue: str, owner: str, *, limit: int = 10, lease_for: float = 30.0
    ) -> list[Lease]:
        """Take up to `limit` available messages (expired or dead-owner leases included)."""
        sqlite_queue.register_owner(owner)
        result: list[Lease] = await self._write(
            functools.partial(sqlite_queue.lease, self._db, queue, owner, limit, lease_for)
        )
        return result

    async def lease_in_line(
        self, queue: str, owner: str, waiting: Sequence[tuple[int, float]], *, lease_for: float = 30.0
    ) -> tuple[list[Lease], tuple[int, float] | None]:
        """Lease for this owner's waiters ahead of every other owner's place (see World.lease_in_line)."""
        sqlite_queue.register_owner(owner)
        result: tuple[list[Lease], tuple[int, float] | None] = await self._write(
            functools.partial(sqlite_queue.lease_in_line, self._db, queue, owner, tuple(waiting), lease_for)
        )
        return result

    async def wait_in_line(
        self, queue: str, owner: str, place: tuple[int, float] | None, *, ttl: float = 30.0
    ) -> None:
        """Hold, move or leave this owner's place in a limit's line (see World.wait_in_line)."""
        await self._write(functools.partial(sqlite_queue.wait_in_line, self._db, queue, owner, place, ttl))

    async def ack(self, lease: Lease, *, requeue_after: float | None = None) -> None:
        """Delete the message, or keep it for `requeue_after` s; a lost lease is ignored."""
        kept: bool = await self._write(sqlite_queue.ack, self._commit.cursor or self._db, lease, requeue_after)
        if kept:
            self._wake_queue(lease.queue)

    async def extend(self, leases: Sequence[Lease], lease_for: float = 30.0) -> list[Lease]:
        """Push the leases' expiry to now + `lease_for`; returns the ones that were lost."""
        if not leases:
            return []
        until = time.time() + lease_for
        lost: list[Lease] = await self._write(functools.partial(sqlite_queue.extend, self._db, leases, until))
        return lost

    def lease_renewer(self) -> sqlite_queue.SqliteLeaseRenewer:
        """A renewer for another thread, on a connection of its own."""
        return sqlite_queue.SqliteLeaseRenewer(str(self.path), BUSY_TIMEOUT_MS)

    async def next_available_at(self, queue: str) -> float | None:
        """Earliest time a message of `queue` can be leased (a lease expiry counts)."""
        return sqlite_queue.next_available_at(self._sync(), queue)

    async def wait_for_messages(self, queue: str, timeout: float) -> None:
        """Return when a message may be available: at once on an enqueue in this
        process, else by polling the table (another process may have enqueued)."""
        deadline = time.monotonic() + timeout
        event = self._queue_events.setdefault(queue, asyncio.Event())
        while True:
            nxt = await self.next_available_at(queue)
            now = time.time()
            if nxt is not None and nxt <= now:
                return
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return
            pause = min(remaining, QUEUE_POLL_SECONDS)
            if nxt is not None:
                pause = min(pause, nxt - now)
            # No await since the check above, so no enqueue of ours can slip between.
            event.clear()
            try:
                async with asyncio.timeout(pause):
                    await event.wait()
                return
            except TimeoutError:
                pass

    def _wake_queue(self, queue: str) -> None:
        event = self._queue_events.get(queue)
        if event is not None:
            event.set()

    # --- streams ------------------------------------------------------------------------

    async def stream_append(
        self, run_id: str, namespace: str, chunks: Sequence[bytes], *, attempt: str | None = None
    ) -> int:
        """Append chunks in order (tagged with the writing attempt); the index after the last one."""
        data = [bytes(c) for c in chunks]
        end: int = await self._write(
            functools.partial(sqlite_streams.append, self._db, run_id, namespace, data, attempt)
        )
        self._wake_stream(run_id, namespace)
        return end

    async def stream_close(self, run_id: str, namespace: str, *, attempt: str | None = None) -> None:
        """Mark the stream finished (followers stop after its last chunk)."""
        await self._write(functools.partial(sqlite_streams.close, self._db, run_id, namespace, attempt))
        self._wake_stream(run_id, namespace)

    async def stream_rollback(self, run_id: str, attempt: str) -> int:
        """Hide the attempt's chunks behind one rollback marker per stream (see World)."""
        total, touched = await self._write(
            functools.partial(sqlite_streams.rollback, self._db, run_id, attempt)
        )
        for namespace in touched:
            self._wake_stream(run_id, namespace)
        return int(total)

    async def list_streams(self, run_id: str) -> list[StreamInfo]:
        """The run's streams, by namespace."""
        rows = (
            self._sync()
            .execute(
                "SELECT namespace, next_index, closed FROM streams WHERE run_id = ? ORDER BY namespace",
                (run_id,),
            )
            .fetchall()
        )
        if not rows:
            require_run(self._db, run_id)
        return [StreamInfo(r[0], r[1], bool(r[2])) for r in rows]

    async def stream_read(
        self, run_id: str, namespace: str, start: int = 0, limit: int = 1000
    ) -> tuple[list[StreamChunk], bool]:
        """Up to `limit` chunks from index `start`, and whether the stream is closed."""
        return sqlite_streams.read(self._sync(), run_id, namespace, start, limit)

    def stream_follow(self, run_id: str, namespace: str, start: int = 0) -> AsyncIterator[StreamChunk]:
        """Chunks from `start` in order, waiting for new ones until the stream is
        closed; every STREAM_POLL_SECONDS another process may have written."""
        return follow_stream(
            lambda index: self.stream_read(run_id, namespace, index, STREAM_PAGE),
            start,
            self._stream_waiters,
            (run_id, namespace),
            poll=lambda: STREAM_POLL_SECONDS,
        )

    def _wake_stream(self, run_id: str, namespace: str | None = None) -> None:
        """Wake this process's followers of one stream, or of every stream of the run."""
        if namespace is not None:
            self._stream_waiters.wake((run_id, namespace))
        else:
            self._stream_waiters.wake_where(lambda key: key[0] == run_id)

