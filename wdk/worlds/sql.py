"""What every SQL world shares: checking a batch before it is written,
turning result rows into the protocol's structs (same column order in each),
and `list_runs`' keyset-paged query."""

from __future__ import annotations

import base64
from collections.abc import Callable, Sequence
from typing import Any

import msgspec

from wdk.errors import ConflictError
from wdk.worlds.base import (
    EVENT_TYPES,
    TERMINAL_TYPES,
    HookInfo,
    LeaseHolder,
    NewEvent,
    Page,
    QueueDepth,
    RunInfo,
    StepInfo,
    StreamChunk,
    SystemInfo,
    owner_id,
)

encode = msgspec.json.Encoder().encode
decode = msgspec.json.Decoder().decode

# Events that name a step, wait or hook by correlation id.
NEEDS_CORRELATION = frozenset(
    t for t in EVENT_TYPES if t.startswith(("step_", "wait_", "hook_")) or t == "run_resumed"
)


def validate_batch(run_id: str, events: Sequence[NewEvent]) -> None:
    """Refuse a batch the log must never hold, before anything is written."""
    ended = False
    for e in events:
        if e.type not in EVENT_TYPES:
            raise ValueError(f"run {run_id}: unknown event type {e.type!r}")
        if e.type in NEEDS_CORRELATION and not e.correlation_id:
            raise ValueError(f"run {run_id}: {e.type} needs a correlation_id")
        if ended and e.type != "hook_disposed":
            raise ConflictError(f"run {run_id}: {e.type} after the run's terminal event")
        ended = ended or e.type in TERMINAL_TYPES


def resumable(status: str, events: Sequence[NewEvent]) -> bool:
    """Whether `events` may be appended to a run that ended with `status`: the
    hook disposals that follow a run's end, or a failed run continued by
    `wdk retry` (a batch that begins with `run_resumed`)."""
    if status == "failed" and events and events[0].type == "run_resumed":
        return True
    return all(e.type == "hook_disposed" for e in events)


def required_field(e: NewEvent, name: str) -> Any:
    try:
        return e.payload[name]
    except KeyError:
        raise ValueError(f"{e.type} payload needs {name!r}") from None


def run_info(r: Any) -> RunInfo:
    """id, workflow_id, status, created_at, updated_at, last_seq, started_at,
    completed_at, idempotency_key, parent_run_id, output, error."""
    return RunInfo(
        id=r[0],
        workflow_id=r[1],
        status=r[2],
        created_at=r[3],
        updated_at=r[4],
        last_seq=r[5],
        started_at=r[6],
        completed_at=r[7],
        idempotency_key=r[8],
        parent_run_id=r[9],
        output=None if r[10] is None else decode(r[10]),
        error=None if r[11] is None else decode(r[11]),
    )


def step_info(r: Any) -> StepInfo:
    """run_id, correlation_id, step_id, status, attempt, created_at, updated_at,
    started_at, completed_at, retry_at, error."""
    return StepInfo(
        run_id=r[0],
        correlation_id=r[1],
        step_id=r[2],
        status=r[3],
        attempt=r[4],
        created_at=r[5],
        updated_at=r[6],
        started_at=r[7],
        completed_at=r[8],
        retry_at=r[9],
        error=None if r[10] is None else decode(r[10]),
    )


def hook_info(r: Any) -> HookInfo:
    """run_id, correlation_id, token, status, created_at, metadata."""
    return HookInfo(
        run_id=r[0],
        correlation_id=r[1],
        token=r[2],
        status=r[3],
        created_at=r[4],
        metadata=decode(r[5]),
    )


def encode_cursor(created_at: float, run_id: str) -> str:
    """list_runs' keyset cursor: opaque to callers, (created_at, id) inside."""
    return base64.urlsafe_b64encode(encode([created_at, run_id])).decode()


def decode_cursor(cursor: str) -> tuple[float, str]:
    try:
        created_at, run_id = decode(base64.urlsafe_b64decode(cursor.encode()))
        return float(created_at), str(run_id)
    except (ValueError, TypeError, msgspec.DecodeError) as exc:
        raise ValueError(f"invalid list_runs cursor {cursor!r}") from exc


def runs_query(
    columns: str,
    *,
    status: str | None,
    workflow_id: str | None,
    cursor: str | None,
    limit: int,
    placeholder: Callable[[int], str],
    created_after: float | None = None,
    created_before: float | None = None,
) -> tuple[str, list[Any]]:
    """`list_runs`' query, newest first, and its parameters. `placeholder(n)`
    writes the n-th parameter in the driver's style (`?`, `$3`). One row more
    than `limit` is asked for: its presence says another page follows."""
    where: list[str] = []
    params: list[Any] = []

    def param(value: Any) -> str:
        params.append(value)
        return placeholder(len(params))

    if status is not None:
        where.append(f"status = {param(status)}")
    if workflow_id is not None:
        where.append(f"workflow_id = {param(workflow_id)}")
    if created_after is not None:
        where.append(f"created_at >= {param(created_after)}")
    if created_before is not None:
        where.append(f"created_at < {param(created_before)}")
    if cursor is not None:
        created_at, run_id = decode_cursor(cursor)
        where.append(f"(created_at, id) < ({param(created_at)}, {param(run_id)})")
    sql = f"SELECT {columns} FROM runs"
    if where:
        sql += " WHERE " + " AND ".join(where)
    sql += f" ORDER BY created_at DESC, id DESC LIMIT {param(max(limit, 0) + 1)}"
    return sql, params


def runs_page(rows: Sequence[Any], limit: int) -> Page:
    """The page of `runs_query`'s rows, with the cursor of the next one if any."""
    items = [run_info(r) for r in rows[: max(limit, 0)]]
    more = len(rows) > len(items) and items
    return Page(items=items, next_cursor=encode_cursor(items[-1].created_at, items[-1].id) if more else None)


# --- the system view (World.queue_depth, World.system_info) ----------------------------
# `ready_at` is the queue's availability column (`available_at` in postgres),
# `now` the store's clock in SQL. A leased row's availability is its lease expiry.


def queue_depth_query(ready_at: str, now: str, queue: str) -> str:
    """One row: ready, scheduled, leased (an expired lease is ready again)."""
    return (
        f"SELECT COALESCE(SUM(CASE WHEN {ready_at} <= {now} THEN 1 ELSE 0 END), 0), "
        f"COALESCE(SUM(CASE WHEN owner IS NULL AND {ready_at} > {now} THEN 1 ELSE 0 END), 0), "
        f"COALESCE(SUM(CASE WHEN owner IS NOT NULL AND {ready_at} > {now} THEN 1 ELSE 0 END), 0) "
        f"FROM queue WHERE queue = {queue}"
    )


def holders_query(ready_at: str, now: str, queue: str) -> str:
    """Rows: owner, leases held, latest expiry."""
    return (
        f"SELECT owner, COUNT(*), MAX({ready_at}) FROM queue "
        f"WHERE queue = {queue} AND owner IS NOT NULL AND {ready_at} > {now} GROUP BY owner ORDER BY owner"
    )


COUNTS_QUERY = "SELECT status, COUNT(*) FROM runs GROUP BY status"


def ended_query(minute: str, since: str) -> str:
    """Rows: minute (unix seconds // 60), status, runs that ended then. `minute`
    is the dialect's integer division of completed_at by 60."""
    return (
        f"SELECT {minute} AS m, status, COUNT(*) FROM runs WHERE completed_at >= {since} "
        "GROUP BY m, status ORDER BY m"
    )


def system_info(
    at: float, counts: Sequence[Any], depth: Any, holders: Sequence[Any], ended: Sequence[Any], live: list[str]
) -> SystemInfo:
    """The rows of the queries above (and the live worker ids) as a SystemInfo."""
    return SystemInfo(
        workers=live,
        at=float(at),
        counts={str(r[0]): int(r[1]) for r in counts},
        queue=QueueDepth(int(depth[0]), int(depth[1]), int(depth[2])),
        holders=[LeaseHolder(str(r[0]), owner_id(str(r[0])), int(r[1]), float(r[2])) for r in holders],
        ended=[(int(r[0]), str(r[1]), int(r[2])) for r in ended],
    )


# stream_chunks.kind (both worlds): a chunk; abandoned (its attempt was rolled
# back: readers skip it); a rollback marker, whose data is JSON [[start, stop], ...].
CHUNK, ABANDONED, MARKER = 0, 1, 2
encode_ranges = msgspec.json.Encoder().encode
_decode_ranges = msgspec.json.Decoder(tuple[tuple[int, int], ...]).decode


def stream_chunk(index: int, data: bytes, kind: int) -> StreamChunk:
    if kind == MARKER:
        return StreamChunk(index, b"", rollback=_decode_ranges(data))
    return StreamChunk(index, bytes(data))
