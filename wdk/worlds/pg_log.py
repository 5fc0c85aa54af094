"""The postgres world's event log: create_run, append, and reading projections.

Functions of a connection. An append is ONE statement (the `append_events`
function of `pg_schema`): the events, the expected-seq check and every
projection update in one round trip and one transaction. Python validates the
batch and pulls out the payload fields the projections need; the constraints
(the one-completion index, the live-token index, the primary keys) decide
conflicts, and their names say which error to raise.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import asyncpg
import msgspec

from wdk.errors import ConflictError, DuplicateCompletion, HookConflict, RunNotFound
from wdk.worlds.base import (
    COMPLETION_TYPES,
    Event,
    NewEvent,
    NewRun,
    RunInfo,
    WaitInfo,
)
from wdk.worlds.sql import required_field, run_info, validate_batch

_encode = msgspec.json.Encoder().encode
_decode = msgspec.json.Decoder().decode

RUN_COLS = (
    "id, workflow_id, status, created_at, updated_at, last_seq, started_at, "
    "completed_at, idempotency_key, parent_run_id, output, error"
)
STEP_COLS = (
    "run_id, correlation_id, step_id, status, attempt, created_at, updated_at, "
    "started_at, completed_at, retry_at, error"
)
HOOK_COLS = "run_id, correlation_id, token, status, created_at, metadata"
WAIT_COLS = "run_id, correlation_id, resume_at, status, created_at"

_KEY_DETAIL = re.compile(r"=\((.*)\) already exists")
_CONFLICT, _NO_RUN = "WDK01", "WDK02"

_APPEND_SQL = (
    "SELECT append_events($1, $2, $3::text[], $4::float8[], $5::text[], $6::bytea[], "
    "$7::text[], $8::integer[], $9::float8[], $10::bytea[])"
)


async def require_run(conn: asyncpg.Connection, run_id: str) -> None:
    """RunNotFound unless the run exists."""
    if await conn.fetchval("SELECT 1 FROM runs WHERE id = $1", run_id) is None:
        raise RunNotFound(run_id)


async def create_run(conn: asyncpg.Connection, run: NewRun) -> tuple[RunInfo, bool]:
    """Insert a run and its run_created event (or find it by idempotency key)."""
    # Priority 0 is the column's default: the six-argument form (every schema has it).
    return await _insert_run(conn, run, "create_run", (run.priority,) if run.priority else ())


async def _insert_run(
    conn: asyncpg.Connection, run: NewRun, function: str, extra: tuple[Any, ...]
) -> tuple[RunInfo, bool]:
    """Call the SQL function that inserts `run` (its six columns, then `extra`):
    (the run, True), or (the run that holds its idempotency key, False)."""
    params = ", ".join(f"${i}" for i in range(1, 7 + len(extra)))
    try:
        row = await conn.fetchrow(
            f"SELECT {RUN_COLS} FROM {function}({params})",
            run.run_id,
            run.workflow_id,
            run.at,
            _encode(run.payload),
            run.idempotency_key,
            run.parent_run_id,
            *extra,
        )
    except asyncpg.UniqueViolationError as exc:
        raise ConflictError(f"run {run.run_id} already exists") from exc
    if row is not None:
        return run_info(row), False
    return _new_run_info(run), True


def _new_run_info(run: NewRun) -> RunInfo:
    return RunInfo(
        id=run.run_id,
        workflow_id=run.workflow_id,
        status="pending",
        created_at=run.at,
        updated_at=run.at,
        last_seq=0,
        idempotency_key=run.idempotency_key,
        parent_run_id=run.parent_run_id,
    )


async def start_run(
    conn: asyncpg.Connection,
    run: NewRun,
    queue: str,
    owner: str | None,
    lease_for: float,
    token: int,
    channel: str,
) -> tuple[RunInfo, bool]:
    """create_run and the run's queue message in one statement (see World.start_run)."""
    return await _insert_run(conn, run, "start_run", (queue, owner, lease_for, token, channel, run.priority))


async def append(
    conn: asyncpg.Connection, run_id: str, expected_seq: int, events: Sequence[NewEvent]
) -> list[Event]:
    """Append events after `expected_seq` and update the projections (see World.append)."""
    args = _append_args(run_id, events)
    try:
        await conn.execute(_APPEND_SQL, run_id, expected_seq, *args)
    except asyncpg.UniqueViolationError as exc:
        raise _unique_error(exc, run_id, events) from exc
    except asyncpg.PostgresError as exc:
        if exc.sqlstate == _NO_RUN:
            raise RunNotFound(run_id) from exc
        if exc.sqlstate == _CONFLICT:
            raise ConflictError(str(exc)) from exc
        raise
    return [
        Event(run_id, expected_seq + 1 + i, e.type, e.at, e.correlation_id, e.payload)
        for i, e in enumerate(events)
    ]


def _append_args(run_id: str, events: Sequence[NewEvent]) -> list[list[Any] | None]:
    """The function's arrays: the events, then the projection fields per event."""
    types, ats, cids, payloads = [], [], [], []
    names: list[str | None] = []
    nums: list[int | None] = []
    times: list[float | None] = []
    blobs: list[bytes | None] = []
    validate_batch(run_id, events)
    for e in events:
        p = e.payload
        name, num, when, blob = _projection_fields(e, p)
        types.append(e.type)
        ats.append(e.at)
        cids.append(e.correlation_id)
        payloads.append(_encode(p))
        names.append(name)
        nums.append(num)
        times.append(when)
        blobs.append(blob)
    return [types, ats, cids, payloads, _or_null(names), _or_null(nums), _or_null(times), _or_null(blobs)]


def _or_null(values: list[Any]) -> list[Any] | None:
    """A projection array of NULLs only is sent as NULL (indexing it in SQL is
    NULL too): asyncpg checks every array and element it encodes against
    collections.abc, about a third of an append's client instructions."""
    return values if any(v is not None for v in values) else None


def _projection_fields(
    e: NewEvent, p: dict[str, Any]
) -> tuple[str | None, int | None, float | None, bytes | None]:
    """(step_id | token, attempt | conflict, retry_at | resume_at, error | metadata | output)."""
    t = e.type
    if t == "step_created":
        return str(required_field(e, "step_id")), None, None, None
    if t == "step_started":
        return None, p.get("attempt", 1), None, None
    if t == "step_retrying":
        return None, p.get("attempt"), p.get("retry_at"), _encode(p.get("error") or {})
    if t in ("step_failed", "run_failed"):
        return None, p.get("attempt"), None, _encode(p.get("error") or {})
    if t == "run_completed":
        return None, None, None, _encode(p.get("result"))
    if t == "wait_created":
        return None, None, float(required_field(e, "resume_at")), None
    if t == "hook_created":
        conflict = 1 if p.get("conflict") else None
        return str(required_field(e, "token")), conflict, None, _encode(p.get("metadata") or {})
    return None, None, None, None


def _unique_error(
    exc: asyncpg.UniqueViolationError, run_id: str, events: Sequence[NewEvent]
) -> ConflictError | HookConflict:
    constraint = exc.constraint_name or ""
    if constraint == "events_one_completion":
        cids = [e.correlation_id for e in events if e.type in COMPLETION_TYPES]
        return DuplicateCompletion(
            f"run {run_id}: a completion for correlation id {', '.join(map(str, cids))} "
            "is already recorded"
        )
    if constraint == "hooks_live_token":
        found = _KEY_DETAIL.search(exc.detail or "")
        tokens = [str(e.payload.get("token")) for e in events if e.type == "hook_created"]
        return HookConflict(found.group(1) if found else ", ".join(tokens))
    kind = constraint.split("_", 1)[0].rstrip("s") or "row"
    return ConflictError(f"run {run_id}: {kind} already exists ({exc.detail or constraint})")


def wait_info(r: Any) -> WaitInfo:
    return WaitInfo(r[0], r[1], r[2], r[3], r[4])


def event(run_id: str, r: Any) -> Event:
    return Event(run_id, r[0], r[1], r[2], r[3], _decode(r[4]))


# Large values stored once per run (World.put_blobs / get_blobs, `wdk.worlds.blobs`).
PUT_BLOB = "INSERT INTO blobs (run_id, id, data) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING"
GET_BLOBS = "SELECT id, data FROM blobs WHERE run_id = $1 AND id = ANY($2::text[])"
