"""The World protocol: everything the runtime needs from a store and a queue.

The runtime talks to a World and never to a driver. A World keeps, per run,
an append-only event log (the truth) and projections of it (runs, steps,
waits, hooks: for listing), a small queue of "this run needs attention at
time T" messages, and output streams. Every implementation passes the
conformance suite in `tests/worlds/`.

Times are Unix seconds (float). Payloads are JSON-compatible dicts; values
that came from user code are already encoded by `wdk.runtime.serde`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any, Literal, Protocol, runtime_checkable

import msgspec

EventType = Literal[
    "run_created",
    "run_started",
    "run_completed",
    "run_failed",
    "run_cancelled",
    "run_blocked",
    "run_unblocked",
    "run_resumed",
    "patch_recorded",
    "step_created",
    "step_started",
    "step_retrying",
    "step_completed",
    "step_failed",
    "wait_created",
    "wait_completed",
    "hook_created",
    "hook_received",
    "hook_disposed",
]

EVENT_TYPES: frozenset[str] = frozenset(EventType.__args__)  # type: ignore[attr-defined]

# Completions: at most one per (run, correlation id), enforced by the store.
COMPLETION_TYPES: frozenset[str] = frozenset({"step_completed", "step_failed", "wait_completed"})

TERMINAL_TYPES: frozenset[str] = frozenset({"run_completed", "run_failed", "run_cancelled"})

RunStatus = Literal["pending", "running", "blocked", "completed", "failed", "cancelled"]
TERMINAL_STATUSES: frozenset[str] = frozenset({"completed", "failed", "cancelled"})
# The status each terminal event leaves its run in.
END_STATUS: dict[str, str] = {"run_completed": "completed", "run_failed": "failed", "run_cancelled": "cancelled"}
# Runs the reconciler queues: `blocked` ones too, so that every worker
# re-checks them against its code (see Orchestrator).
ACTIVE_STATUSES: tuple[str, ...] = ("pending", "running", "blocked")


class NewEvent(msgspec.Struct, frozen=True):
    """An event the runtime wants appended. `at` is set by the runtime: the
    workflow's virtual clock reads it back on replay, so it must be stored as given."""

    type: EventType
    at: float
    correlation_id: str | None = None
    payload: dict[str, Any] = {}


class Event(msgspec.Struct, frozen=True):
    """A stored event: `seq` counts from 0 per run (run_created is 0)."""

    run_id: str
    seq: int
    type: EventType
    at: float
    correlation_id: str | None = None
    payload: dict[str, Any] = {}


class NewRun(msgspec.Struct, frozen=True):
    """What `create_run` needs. The world appends `run_created` (seq 0) with
    `payload` in the same transaction that inserts the run row."""

    run_id: str
    workflow_id: str
    at: float
    payload: dict[str, Any] = {}
    idempotency_key: str | None = None
    parent_run_id: str | None = None
    # The run's priority (`start(..., priority=)`), kept on its row: every
    # queue message of the run takes it, and higher is leased first.
    priority: int = 0


class RunInfo(msgspec.Struct, frozen=True):
    """The runs projection."""

    id: str
    workflow_id: str
    status: RunStatus
    created_at: float
    updated_at: float
    last_seq: int
    started_at: float | None = None
    completed_at: float | None = None
    idempotency_key: str | None = None
    parent_run_id: str | None = None
    # Terminal outcome, copied from run_completed / run_failed payloads.
    output: Any = None
    error: dict[str, Any] | None = None


class StepInfo(msgspec.Struct, frozen=True):
    """The steps projection: one row per (run, correlation id)."""

    run_id: str
    correlation_id: str
    step_id: str
    status: str  # created | running | retrying | completed | failed
    attempt: int
    created_at: float
    updated_at: float
    started_at: float | None = None
    completed_at: float | None = None
    retry_at: float | None = None
    error: dict[str, Any] | None = None


class WaitInfo(msgspec.Struct, frozen=True):
    run_id: str
    correlation_id: str
    resume_at: float
    status: str  # waiting | completed | cancelled (its run ended first)
    created_at: float


class HookInfo(msgspec.Struct, frozen=True):
    run_id: str
    correlation_id: str
    token: str
    status: str  # active | disposed
    created_at: float
    metadata: dict[str, Any] = {}


class ScheduleState(msgspec.Struct, frozen=True):
    """A schedule's shared state (wdk/runtime/schedules.py): what it is (`spec`:
    workflow id, cron, time zone, overlap, catch-up, as declared) and how far it
    fired. `version` guards every write (`World.save_schedule`); 0: not stored yet."""

    name: str
    spec: dict[str, Any]
    version: int = 0
    last_tick: float | None = None  # the latest tick handled (started, skipped or buffered)
    last_run_id: str | None = None  # the run the latest started tick made
    buffered_tick: float | None = None  # overlap="buffer_one": the tick waiting for that run
    paused: bool = False
    updated_at: float = 0.0


class Page(msgspec.Struct, frozen=True):
    items: list[Any]
    next_cursor: str | None = None


class QueueDepth(msgspec.Struct, frozen=True):
    """A queue's messages now: available, due later (sleeps, retry back-offs), held by a worker."""

    ready: int = 0
    scheduled: int = 0
    leased: int = 0


class LeaseHolder(msgspec.Struct, frozen=True):
    """A lease owner (one worker process) and the runs it holds now."""

    owner: str
    worker_id: str | None
    leases: int
    expires_at: float  # the latest expiry of its leases


class SystemInfo(msgspec.Struct, frozen=True):
    """What the dashboard's system view draws, read in one go (`World.system_info`)."""

    at: float  # the store's clock when read
    counts: dict[str, int]  # runs by status
    queue: QueueDepth
    holders: list[LeaseHolder]
    # Runs that ended since `since`: (minute, as unix seconds // 60, status, count).
    ended: list[tuple[int, str, int]]
    # Ids of the workers alive now (`claim_worker_id` holders), leases or not.
    workers: list[str] = []


class Lease(msgspec.Struct, frozen=True):
    """A leased queue message. `key` is the message's idempotency key."""

    queue: str
    key: str
    payload: bytes
    owner: str
    token: int
    attempts: int


class StreamChunk(msgspec.Struct, frozen=True):
    """One chunk of a stream, or (with `rollback` set, and empty `data`) a
    rollback marker: the chunks at these [start, stop) index ranges were written
    by a step attempt that failed or died, and readers skip them from now on."""

    index: int
    data: bytes
    rollback: tuple[tuple[int, int], ...] | None = None


class StreamInfo(msgspec.Struct, frozen=True):
    """One stream of a run: how many chunks it has and whether it is closed."""

    namespace: str
    length: int
    closed: bool


def owner_id(owner: str) -> str | None:
    """The worker id a lease owner carries (`host:pid:nonce@<worker id>`), if any."""
    _, sep, worker_id = owner.rpartition("@")
    return worker_id if sep else None


class LeaseRenewer(Protocol):
    """Renews leases with blocking calls from one thread of the runtime's own, on
    a connection of its own, so that a blocked event loop cannot stall it."""

    def extend(self, leases: Sequence[Lease], lease_for: float) -> list[Lease]:
        """Like `World.extend`: push expiries forward; returns the leases that were lost."""
        ...

    def close(self) -> None: ...


@runtime_checkable
class World(Protocol):
    """A store plus a queue. All methods are coroutines and safe to call
    concurrently from one event loop; several processes may share one store."""

    name: str

    async def open(self) -> None:
        """Connect, create or migrate the schema. Raises WorldError with a clear
        message when the store is unusable (corrupt, foreign, newer, unwritable)."""

    async def close(self) -> None: ...

    async def store_secret(self) -> bytes:
        """A random secret made with the store, the same for every process that
        opens it and never served (it keys each run's random stream)."""
        ...

    async def put_blobs(self, run_id: str, blobs: Mapping[str, bytes]) -> None:
        """Store each large value of the run under its id, once (an id already
        stored is kept). Committed no later than the next append's commit."""

    async def get_blobs(self, run_id: str, ids: Sequence[str]) -> dict[str, bytes]:
        """The run's stored values by id (ids never stored are left out)."""
        ...

    # --- events and runs -----------------------------------------------------

    async def create_run(self, run: NewRun) -> tuple[RunInfo, bool]:
        """Insert the run and its `run_created` event. With an idempotency key
        already used, return (the existing run, False) and write nothing."""

    async def start_run(
        self, run: NewRun, queue: str, *, owner: str | None = None, lease_for: float = 30.0
    ) -> tuple[RunInfo, bool, Lease | None]:
        """`create_run` and its queue message (key: the run id) in ONE transaction
        (one round trip): a run is never created without the message that gets
        it going. With `owner`, the message is leased to it at once (returned:
        the caller advances the run without a lease call or a wake-up of other
        consumers); else it is available now. An idempotency key already used
        returns (the existing run, False, None) and writes nothing."""

    async def append(self, run_id: str, expected_seq: int, events: Sequence[NewEvent]) -> list[Event]:
        """Append events after `expected_seq` (the run's current last seq) and
        update projections in the same transaction. Raises ConflictError when
        the run's last seq differs, DuplicateCompletion when a completion for
        the same (run, correlation id) exists, HookConflict when a
        `hook_created` token is held by a live hook, RunNotFound for an
        unknown run. On any error nothing of the batch is written."""

    async def read_events(self, run_id: str, after_seq: int = -1, limit: int | None = None) -> list[Event]:
        """Events with seq > after_seq, in order."""

    async def get_run(self, run_id: str) -> RunInfo | None: ...

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
        """Newest first. `cursor` is the `next_cursor` of the previous page;
        `created_after` / `created_before` bound `created_at` (>=, <)."""

    async def list_steps(self, run_id: str) -> list[StepInfo]: ...

    async def list_waits(self, run_id: str) -> list[WaitInfo]: ...

    async def list_hooks(self, run_id: str | None = None, *, status: str | None = None) -> list[HookInfo]: ...

    async def get_hook(self, token: str, *, include_disposed: bool = False) -> HookInfo | None:
        """The live (active) hook with this token, or None. With
        `include_disposed`, when no hook holds it, the hook that held it last."""

    async def active_run_ids(self, limit: int = 10_000) -> list[str]:
        """Runs that are not terminal (the reconciler's query)."""

    async def queue_depth(self, queue: str) -> QueueDepth:
        """How many of `queue`'s messages are ready, scheduled and leased now
        (an expired lease counts as ready)."""

    async def system_info(self, queue: str, since: float) -> SystemInfo:
        """Runs by status, `queue`'s depth and lease holders, the runs that
        ended since `since` per minute, and the live workers' ids: the
        dashboard's system view."""

    # --- workers ---------------------------------------------------------------

    async def claim_worker_id(self, worker_id: str | None) -> str:
        """Hold a worker id until the world is closed (or the process dies):
        `worker_id`, or with None the lowest free `<host>-<n>`, so a worker
        restarted on the same machine gets its predecessor's id back. Raises
        WorkerIdTaken when a live process holds `worker_id`. Messages still
        leased by owners with this id (`...@<id>`, see `owner_id`) belonged to a
        dead predecessor: they are available at once, without waiting for their
        leases to expire. Returns the id; lease as `...@<id>` from then on."""

    # --- queue -----------------------------------------------------------------

    async def enqueue(
        self,
        queue: str,
        key: str,
        payload: bytes = b"",
        *,
        delay: float = 0.0,
        only_if_absent: bool = False,
    ) -> None:
        """Add a message, or merge into the existing one with the same key: the
        earlier availability wins. If that message is leased right now, it is
        marked so that `ack` keeps it (the new work is not lost). With
        `only_if_absent` an existing message (leased or not) is left as it is:
        the reconciler's re-enqueue must not wake a sleeping run early. A new
        message whose key is a run's id takes the run's priority (kept on the
        run since `create_run`); a merge keeps the message's priority."""

    async def lease(self, queue: str, owner: str, *, limit: int = 10, lease_for: float = 30.0) -> list[Lease]:
        """Take up to `limit` available messages. A message whose lease expired
        (or, in the local world, whose owner process died) is available again."""

    async def ack(self, lease: Lease, *, requeue_after: float | None = None) -> None:
        """Done with a message: delete it, or keep it for `requeue_after`
        seconds from now. A message enqueued again while leased is kept and
        available at once. A lease that was lost (expired and taken) is ignored."""

    async def extend(self, leases: Sequence[Lease], lease_for: float = 30.0) -> list[Lease]:
        """Heartbeat: push the leases' expiry forward. Returns the leases that were
        lost (acked, or expired and taken by another owner); those are left alone."""

    def lease_renewer(self) -> LeaseRenewer:
        """A renewer the runtime calls from its lease thread (see LeaseRenewer)."""
        ...

    async def next_available_at(self, queue: str) -> float | None:
        """Earliest time a message of this queue becomes available, or None."""

    async def wait_for_messages(self, queue: str, timeout: float) -> None:
        """Return when a message may be available (or after `timeout`)."""

    async def lease_in_line(
        self, queue: str, owner: str, waiting: Sequence[tuple[int, float]], *, lease_for: float = 30.0
    ) -> tuple[list[Lease], tuple[int, float] | None]:
        """Flow control's ordered lease. `waiting` are this owner's waiters'
        places (priority, arrival time), best first (higher priority, then
        earlier). Leases one available message of `queue` for each of them
        that is ahead of every other owner's live place in the line of `queue`
        (see `wait_in_line`), as far as messages are available; returns the
        leases and the best other place (None: no other owner waits), so a
        process lets a better waiter of another process go first."""

    async def wait_in_line(
        self, queue: str, owner: str, place: tuple[int, float] | None, *, ttl: float = 30.0
    ) -> None:
        """Hold this owner's place (its best waiter's) in the line of `queue`
        for `ttl` seconds (call again to move or renew it), or leave the line
        (None). A place not renewed in time no longer counts (its process
        died); the local world also drops it as soon as its process is gone."""

    async def debounce_run(self, run: NewRun, queue: str, key: str, window: float) -> tuple[RunInfo, bool]:
        """A debounced start, in one transaction: while the run an earlier call
        with this `key` made has not begun and its window (`window` seconds from
        that call) is open, its `run_created` payload becomes `run.payload` (the
        last arguments win) and (that run, False) comes back. Else `run` is
        created with its queue message due when its window closes: (run, True).
        An idempotency key already used returns (that run, False)."""

    # --- schedules -----------------------------------------------------------------

    async def get_schedule(self, name: str) -> ScheduleState | None: ...

    async def list_schedules(self) -> list[ScheduleState]:
        """Every stored schedule, by name."""

    async def save_schedule(self, state: ScheduleState) -> bool:
        """Write `state` if the stored version is still `state.version` (0:
        none stored yet); the stored version becomes one more. False when
        another writer got there first (nothing written): read and decide again."""

    # --- streams -----------------------------------------------------------------

    async def stream_append(
        self, run_id: str, namespace: str, chunks: Sequence[bytes], *, attempt: str | None = None
    ) -> int:
        """Append chunks; returns the index after the last one written. `attempt`
        names the step execution writing them (`StepMetadata.attempt_key`), so
        `stream_rollback` can take them back; chunks of an attempt already rolled
        back are stored hidden. StreamClosedError when the stream is closed or
        the run has ended; RunNotFound for an unknown run."""

    async def stream_close(self, run_id: str, namespace: str, *, attempt: str | None = None) -> None:
        """Mark the stream finished (followers stop after its last chunk). A close
        by an attempt already rolled back is ignored."""

    async def stream_rollback(self, run_id: str, attempt: str) -> int:
        """Abandon every chunk `attempt` wrote to the run's streams, in one
        transaction: readers skip them from now on (their indexes stay used), and
        each stream they were in gets a rollback marker at its next index listing
        them. A stream that attempt closed is open again. Later writes and closes
        by that attempt are hidden / ignored. Returns how many chunks were
        abandoned (0 the second time: it is idempotent)."""

    async def list_streams(self, run_id: str) -> list[StreamInfo]:
        """The run's streams, by namespace (RunNotFound for an unknown run)."""

    async def stream_read(
        self, run_id: str, namespace: str, start: int = 0, limit: int = 1000
    ) -> tuple[list[StreamChunk], bool]:
        """Chunks (and rollback markers) from `start`, never an abandoned chunk,
        and whether the stream is closed. A stream of a run that has ended is
        closed, even one that was never written: every stream ends with its run."""

    def stream_follow(self, run_id: str, namespace: str, start: int = 0) -> AsyncIterator[StreamChunk]:
        """What `stream_read` gives from `start` in order, following a live stream
        until it is closed (at the latest, when its run ends)."""
        ...
