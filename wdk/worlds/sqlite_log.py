"""The local world's event log in SQL: create_run, append, and the projections.

Functions of a connection, called inside the group commit's transaction (see
`sqlite_commit.py`). Each event type has one `_apply_<type>` that updates the
projections; the constraints (the events primary key, the one-completion
index, the live-token index) decide conflicts, never a SELECT beforehand.
The one read is the expected-seq check: a run's last seq is its last event's
(the run row is not written per append: a page written at every commit costs
more than the read), and the group commit's write lock keeps it current. The
caller may pass what its own last committed append left (`RunState`): then
even that read is skipped, and the events primary key catches any writer
since (see `append`).

Rows are keyed by integers (schema version 11): see `sqlite_keys`.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from typing import Any

import msgspec

from wdk.errors import ConflictError, DuplicateCompletion, HookConflict, RunNotFound
from wdk.worlds.base import (
    COMPLETION_TYPES,
    END_STATUS,
    EVENT_TYPES,
    TERMINAL_STATUSES,
    Event,
    NewEvent,
    NewRun,
    RunInfo,
)
from wdk.worlds.sql import required_field, resumable, run_info, validate_batch
from wdk.worlds.sqlite_keys import (
    MAX_SEQ,
    OTHER_IDS,
    OTHER_STEP,
    SEQ_BITS,
    SEQ_MASK,
    run_keys,
    step_key,
)

_encode = msgspec.json.Encoder().encode


def _blob(value: Any) -> bytearray:
    """`value` as JSON for a BLOB column. A bytearray, not bytes: the sqlite3
    module binds a bytearray at once, but looks for an adapter for bytes
    (~1 µs per parameter, a good part of an event's insert)."""
    return bytearray(_encode(value))


# updated_at and last_seq are the run's last event's (see schema version 2).
RUN_COLS = (
    "id, workflow_id, status, created_at, "
    f"(SELECT at FROM events WHERE {run_keys('runs.num')} ORDER BY k DESC LIMIT 1), "
    f"(SELECT k & {SEQ_MASK} FROM events WHERE {run_keys('runs.num')} ORDER BY k DESC LIMIT 1), "
    "started_at, completed_at, idempotency_key, parent_run_id, output, error"
)
# ?1 is the run's id: a steps row holds the run's number only.
STEP_COLS = (
    "?1, correlation_id, step_id, status, attempt, created_at, updated_at, "
    "started_at, completed_at, retry_at, error"
)
HOOK_COLS = "run_id, correlation_id, token, status, created_at, metadata"
_RUN_STATE = (
    "SELECT status, num, (SELECT k & "
    f"{SEQ_MASK} FROM events WHERE {run_keys('runs.num')} ORDER BY k DESC LIMIT 1) "
    "FROM runs WHERE id = ?"
)
# The status each event that changes a run's status leaves it in (the
# appliers below write the same); all others leave it as it is.
_STATUS_AFTER: dict[str, str] = {
    "run_started": "running",
    "run_blocked": "blocked",
    "run_unblocked": "running",
    "run_resumed": "running",
    **END_STATUS,
}

# Rows per INSERT statement (5 parameters each: well under SQLite's limit).
_INSERT_CHUNK = 64
_EVENT_PARAMS = 5

# What the append path's statements run on: the group commit's cursor, or a connection.
Db = sqlite3.Connection | sqlite3.Cursor

# A run's (status, last seq, number, whether it may hold waits or hooks rows)
# as a committed append left it.
RunState = tuple[str, int, int, bool]

# What an applier reports (or-ed into the batch's flags): it wrote a waits or
# hooks row, or it ended the run.
_HOLDS = 1
_ENDED = 2


def require_run(conn: sqlite3.Connection, run_id: str) -> None:
    """RunNotFound unless the run exists."""
    if conn.execute("SELECT 1 FROM runs WHERE id = ?", (run_id,)).fetchone() is None:
        raise RunNotFound(run_id)


def create_run(conn: sqlite3.Connection, run: NewRun) -> tuple[RunInfo, bool]:
    """Insert a run and its run_created event (or find it by idempotency key)."""
    info, state = create_run_state(conn, run)
    return info, state is not None


def create_run_state(conn: Db, run: NewRun) -> tuple[RunInfo, RunState | None]:
    """`create_run`, with the new run's state for its first append (None: the run existed)."""
    if run.idempotency_key is not None:
        row = conn.execute(
            f"SELECT {RUN_COLS} FROM runs WHERE idempotency_key = ?", (run.idempotency_key,)
        ).fetchone()
        if row is not None:
            return run_info(row), None
    try:
        num = conn.execute(
            "INSERT INTO runs (id, workflow_id, status, created_at, idempotency_key, "
            "parent_run_id, priority) VALUES (?, ?, 'pending', ?, ?, ?, ?)",
            (run.run_id, run.workflow_id, run.at, run.idempotency_key, run.parent_run_id, run.priority),
        ).lastrowid
    except sqlite3.IntegrityError as exc:
        raise ConflictError(f"run {run.run_id} already exists") from exc
    assert num is not None  # an INSERT's
    conn.execute(
        "INSERT INTO events (k, type, at, correlation_id, payload) VALUES (?, 'run_created', ?, NULL, ?)",
        (num << SEQ_BITS, run.at, _blob(run.payload)),
    )
    info = RunInfo(
        id=run.run_id,
        workflow_id=run.workflow_id,
        status="pending",
        created_at=run.at,
        updated_at=run.at,
        last_seq=0,
        idempotency_key=run.idempotency_key,
        parent_run_id=run.parent_run_id,
    )
    return info, ("pending", 0, num, False)


def append(
    conn: Db,
    run_id: str,
    expected_seq: int,
    events: tuple[NewEvent, ...],
    known: RunState | None = None,
) -> tuple[list[Event], RunState]:
    """Append events after `expected_seq` and update the projections (see
    World.append). `known`: the run's state as this connection last committed
    it, if the caller kept it; returns the state after this append."""
    validate_batch(run_id, events)
    if known is not None and known[1] == expected_seq and events:
        # Seqs have no gaps and a run's status changes only with an event, so
        # a writer since `known` has taken seq expected_seq + 1: the insert
        # below then fails on the events primary key, and the read says why.
        status, _, num, holds = known
    else:
        status, num = _check_state(conn, run_id, expected_seq)
        holds = True  # not known here: the run's end looks
    n = len(events)
    if not n:
        return [], (status, expected_seq, num, holds)
    if status in TERMINAL_STATUSES and not resumable(status, events):
        raise ConflictError(f"run {run_id} is already {status}: cannot append {events[0].type}")
    if expected_seq + n > MAX_SEQ:
        raise ConflictError(f"run {run_id}: a run holds at most {MAX_SEQ + 1} events")
    # The events, their insert's parameters and the status they leave, in one pass.
    base = num << SEQ_BITS
    written: list[Event] = []
    params: list[Any] = []
    seq = expected_seq
    for e in events:
        seq += 1
        t, payload = e.type, e.payload
        written.append(Event(run_id, seq, t, e.at, e.correlation_id, payload))
        # A bytearray, not bytes: the sqlite3 module binds a bytearray at once,
        # but looks for an adapter for bytes (~1 µs per parameter).
        params += (base | seq, t, e.at, e.correlation_id, bytearray(_encode(payload)))
        status = _STATUS_AFTER.get(t, status)
    try:
        if n <= _INSERT_CHUNK:
            conn.execute(_INSERT_SQL[n], params)
        else:
            _insert_chunks(conn, params)
    except sqlite3.IntegrityError as exc:
        _check_state(conn, run_id, expected_seq)  # raises: another writer appended
        raise ConflictError(f"run {run_id}: seq {expected_seq + 1} is already written") from exc
    seq = expected_seq + 1
    flags = 0
    i = 0
    while i < n:
        e = events[i]
        if e.type == "step_created" and i + 1 < n:
            nxt = events[i + 1]
            if nxt.type == "step_started" and nxt.correlation_id == e.correlation_id:
                # An eager step is created and started in one commit: one row write, not two.
                _insert_started_step(conn, run_id, num, seq, e, nxt)
                i += 2
                seq += 2
                continue
        flags |= _APPLIERS[e.type](conn, run_id, num, seq, e) or 0
        i += 1
        seq += 1
    if flags & _HOLDS:
        holds = True
    if flags & _ENDED and holds:
        _end_calls(conn, run_id)
    return written, (status, expected_seq + n, num, holds)


def _insert_chunks(conn: Db, params: list[Any]) -> None:
    # One statement per chunk of rows, not one per row (executemany): the
    # sqlite3 module's cost per execution is a good part of an insert's.
    step = _INSERT_CHUNK * _EVENT_PARAMS
    for start in range(0, len(params), step):
        chunk = params[start : start + step]
        conn.execute(_INSERT_SQL[len(chunk) // _EVENT_PARAMS], chunk)


def _insert_sql(rows: int) -> str:
    return "INSERT INTO events (k, type, at, correlation_id, payload) VALUES " + ", ".join(
        ["(?, ?, ?, ?, ?)"] * rows
    )


# The INSERT of n rows is _INSERT_SQL[n]: an index, not a call per append.
_INSERT_SQL = tuple(_insert_sql(n) if n else "" for n in range(_INSERT_CHUNK + 1))


def _check_state(conn: Db, run_id: str, expected_seq: int) -> tuple[str, int]:
    """The run's status and number, after checking that its log ends at `expected_seq`."""
    row = conn.execute(_RUN_STATE, (run_id,)).fetchone()
    if row is None:
        raise RunNotFound(run_id)
    status, num, last_seq = row
    if last_seq != expected_seq:
        raise ConflictError(
            f"run {run_id}: append expected seq {expected_seq} but the log is at {last_seq} "
            "(another writer got there first)"
        )
    return str(status), int(num)


# One projection update per event type (the append already wrote the event).


def _apply_run_created(conn: Db, run_id: str, num: int, seq: int, e: NewEvent) -> None:
    raise ConflictError(f"run {run_id}: run_created is written by create_run only")


def _apply_run_started(conn: Db, run_id: str, num: int, seq: int, e: NewEvent) -> None:
    conn.execute(
        "UPDATE runs SET status = 'running', started_at = coalesce(started_at, ?) WHERE num = ?",
        (e.at, num),
    )


def _finish_run(conn: Db, num: int, e: NewEvent, output: bytes | None, error: bytes | None) -> int:
    conn.execute(
        "UPDATE runs SET status = ?, completed_at = ?, output = ?, error = ? WHERE num = ?",
        (END_STATUS[e.type], e.at, output, error, num),
    )
    return _ENDED  # append ends the run's waits and hooks, if it may have some


def _end_calls(conn: Db, run_id: str) -> None:
    """After the run's end (in the same batch, after its events): what of it is still live ends.
    Skipped for a run known to hold no waits or hooks rows (two statements per run)."""
    # A finished run frees its hook tokens.
    conn.execute(
        "UPDATE hooks SET status = 'disposed' WHERE run_id = ? AND status = 'active'", (run_id,)
    )
    # ...and ends its waits: none of them will complete now.
    conn.execute(
        "UPDATE waits SET status = 'cancelled' WHERE run_id = ? AND status = 'waiting'", (run_id,)
    )


def _apply_run_completed(conn: Db, run_id: str, num: int, seq: int, e: NewEvent) -> int:
    return _finish_run(conn, num, e, _encode(e.payload.get("result")), None)


def _apply_run_failed(conn: Db, run_id: str, num: int, seq: int, e: NewEvent) -> int:
    return _finish_run(conn, num, e, None, _encode(e.payload.get("error") or {}))


def _apply_run_cancelled(conn: Db, run_id: str, num: int, seq: int, e: NewEvent) -> int:
    return _finish_run(conn, num, e, None, None)


def _apply_run_blocked(conn: Db, run_id: str, num: int, seq: int, e: NewEvent) -> None:
    conn.execute("UPDATE runs SET status = 'blocked' WHERE num = ?", (num,))


def _apply_run_unblocked(conn: Db, run_id: str, num: int, seq: int, e: NewEvent) -> None:
    conn.execute("UPDATE runs SET status = 'running' WHERE num = ?", (num,))


def _apply_run_resumed(conn: Db, run_id: str, num: int, seq: int, e: NewEvent) -> None:
    # A failed run continues (`wdk retry`): it is live again.
    conn.execute(
        "UPDATE runs SET status = 'running', completed_at = NULL, error = NULL WHERE num = ?",
        (num,),
    )


def _apply_patch_recorded(conn: Db, run_id: str, num: int, seq: int, e: NewEvent) -> None:
    pass  # only the log needs it (replay reads it back)


# A step row's INSERT: key, correlation id, seq and step_id are ?1-?4, then
# the created step's time (?5), or the started step's attempt, creation and start (?5-?7).
_STEP_COLS = "INSERT INTO steps (k, correlation_id, seq, step_id, status, attempt, created_at, updated_at, started_at)"
_INSERT_CREATED_STEP = f"{_STEP_COLS} VALUES (?1, ?2, ?3, ?4, 'created', 0, ?5, ?5, NULL)"
_INSERT_STARTED_STEP = f"{_STEP_COLS} VALUES (?1, ?2, ?3, ?4, 'running', ?5, ?6, ?7, ?7)"


def _apply_step_created(conn: Db, run_id: str, num: int, seq: int, e: NewEvent) -> None:
    _insert_step(conn, run_id, num, seq, e, _INSERT_CREATED_STEP, (required_field(e, "step_id"), e.at))


def _insert_started_step(
    conn: Db, run_id: str, num: int, seq: int, created: NewEvent, started: NewEvent
) -> None:
    attempt = started.payload.get("attempt", 1)
    try:
        step_id = created.payload["step_id"]
    except KeyError:
        step_id = required_field(created, "step_id")  # raises
    _insert_step(conn, run_id, num, seq, created, _INSERT_STARTED_STEP, (step_id, attempt, created.at, started.at))


def _insert_step(
    conn: Db, run_id: str, num: int, seq: int, e: NewEvent, sql: str, values: tuple[Any, ...]
) -> None:
    """The step's row at its call number's key, else at its seq's (see `sqlite_keys`):
    `sql` one of the step INSERTs above, `values` its parameters from ?4 on."""
    cid = e.correlation_id
    assert cid is not None  # validate_batch: a step event names its call
    key = step_key(num, cid)
    if key is not None:
        try:
            conn.execute(sql, (key, cid, seq, *values))
            return
        except sqlite3.IntegrityError as exc:
            held = conn.execute("SELECT correlation_id FROM steps WHERE k = ?", (key,)).fetchone()
            if held is not None and held[0] == cid:
                raise ConflictError(f"run {run_id}: step {cid} already exists") from exc
    try:  # steps_other_ids refuses an id already kept by seq
        conn.execute(sql, ((num << SEQ_BITS) | OTHER_IDS | seq, cid, seq, *values))
    except sqlite3.IntegrityError as exc:
        raise ConflictError(f"run {run_id}: step {cid} already exists") from exc


def _step_update(sets: str) -> tuple[str, str]:
    """The UPDATEs of a step row setting `sets` (and updated_at): by its call
    number's key, and by correlation id among the rows kept by seq. A step that
    has its completion takes no other event: this is what keeps one completion
    per call (schema version 5). In `sets`, ?1 is the event's time and ?4 on
    are _update_step's `params`."""
    live = "AND status NOT IN ('completed', 'failed')"
    return (
        f"UPDATE steps SET {sets}, updated_at = ?1 WHERE k = ?2 AND correlation_id = ?3 {live}",
        f"UPDATE steps SET {sets}, updated_at = ?1 WHERE k >> {SEQ_BITS} = ?2 AND k & {OTHER_IDS} "
        f"AND correlation_id = ?3 {live}",
    )


def _update_step(
    conn: Db, run_id: str, num: int, e: NewEvent, sql: tuple[str, str], params: tuple[Any, ...]
) -> None:
    """Run the step row's UPDATE `sql` (see _step_update) with `params`, or say why it changed nothing."""
    cid = e.correlation_id
    assert cid is not None  # validate_batch: a step event names its call
    key = step_key(num, cid)
    if key is not None and conn.execute(sql[0], (e.at, key, cid, *params)).rowcount:
        return
    if conn.execute(sql[1], (e.at, num, cid, *params)).rowcount == 0:
        _refuse(_step_exists(conn, num, cid), "step", run_id, e)


def _step_exists(conn: Db, num: int, cid: str) -> bool:
    key = step_key(num, cid)
    if key is not None and conn.execute("SELECT 1 FROM steps WHERE k = ? AND correlation_id = ?", (key, cid)).fetchone():
        return True
    return conn.execute(f"SELECT 1 FROM steps WHERE {OTHER_STEP}", (num, cid)).fetchone() is not None


def _refuse(exists: bool, kind: str, run_id: str, e: NewEvent) -> None:
    """Why an event naming a call was refused: its call (if it `exists`) has its completion, or is unknown."""
    if exists and e.type in COMPLETION_TYPES:
        raise DuplicateCompletion(
            f"run {run_id}: a completion for correlation id {e.correlation_id} is already recorded"
        )
    if exists:
        raise ConflictError(f"run {run_id}: {e.type} for {kind} {e.correlation_id}, which has ended")
    raise ConflictError(f"run {run_id}: {e.type} for unknown {kind} {e.correlation_id}")


_STEP_STARTED = _step_update("status = 'running', attempt = ?4, started_at = coalesce(started_at, ?1), retry_at = NULL")
_STEP_RETRYING = _step_update("status = 'retrying', attempt = coalesce(?4, attempt), error = ?5, retry_at = ?6")
_STEP_COMPLETED = _step_update("status = 'completed', completed_at = ?1, retry_at = NULL, error = NULL")
_STEP_FAILED = _step_update(
    "status = 'failed', completed_at = ?1, retry_at = NULL, error = ?4, attempt = coalesce(?5, attempt)"
)


def _apply_step_started(conn: Db, run_id: str, num: int, seq: int, e: NewEvent) -> None:
    _update_step(conn, run_id, num, e, _STEP_STARTED, (e.payload.get("attempt", 1),))


def _apply_step_retrying(conn: Db, run_id: str, num: int, seq: int, e: NewEvent) -> None:
    p = e.payload
    _update_step(
        conn, run_id, num, e, _STEP_RETRYING, (p.get("attempt"), _encode(p.get("error") or {}), p.get("retry_at"))
    )


def _apply_step_completed(conn: Db, run_id: str, num: int, seq: int, e: NewEvent) -> None:
    _update_step(conn, run_id, num, e, _STEP_COMPLETED, ())


def _apply_step_failed(conn: Db, run_id: str, num: int, seq: int, e: NewEvent) -> None:
    p = e.payload
    _update_step(conn, run_id, num, e, _STEP_FAILED, (_encode(p.get("error") or {}), p.get("attempt")))


def _apply_wait_created(conn: Db, run_id: str, num: int, seq: int, e: NewEvent) -> int:
    try:
        conn.execute(
            "INSERT INTO waits (run_id, correlation_id, seq, resume_at, status, created_at) "
            "VALUES (?, ?, ?, ?, 'waiting', ?)",
            (run_id, e.correlation_id, seq, float(required_field(e, "resume_at")), e.at),
        )
    except sqlite3.IntegrityError as exc:
        raise ConflictError(f"run {run_id}: wait {e.correlation_id} already exists") from exc
    return _HOLDS


def _apply_wait_completed(conn: Db, run_id: str, num: int, seq: int, e: NewEvent) -> None:
    cur = conn.execute(
        "UPDATE waits SET status = 'completed' WHERE run_id = ? AND correlation_id = ? "
        "AND status = 'waiting'",
        (run_id, e.correlation_id),
    )
    if cur.rowcount == 0:
        found = conn.execute(
            "SELECT 1 FROM waits WHERE run_id = ? AND correlation_id = ?", (run_id, e.correlation_id)
        ).fetchone()
        _refuse(found is not None, "wait", run_id, e)


def _apply_hook_created(conn: Db, run_id: str, num: int, seq: int, e: NewEvent) -> int:
    token = str(required_field(e, "token"))
    try:
        conn.execute(
            "INSERT INTO hooks (run_id, correlation_id, seq, token, status, created_at, metadata) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            (
                run_id,
                e.correlation_id,
                seq,
                token,
                # A hook recorded as conflicting never held its token.
                "conflict" if e.payload.get("conflict") else "active",
                e.at,
                _encode(e.payload.get("metadata") or {}),
            ),
        )
    except sqlite3.IntegrityError as exc:
        if "hooks.token" in str(exc):
            raise HookConflict(token) from exc
        raise ConflictError(f"run {run_id}: hook {e.correlation_id} already exists") from exc
    return _HOLDS


def _apply_hook_received(conn: Db, run_id: str, num: int, seq: int, e: NewEvent) -> None:
    found = conn.execute(
        "SELECT 1 FROM hooks WHERE run_id = ? AND correlation_id = ?",
        (run_id, e.correlation_id),
    ).fetchone()
    if found is None:
        raise ConflictError(f"run {run_id}: hook_received for unknown hook {e.correlation_id}")


def _apply_hook_disposed(conn: Db, run_id: str, num: int, seq: int, e: NewEvent) -> None:
    cur = conn.execute(
        "UPDATE hooks SET status = 'disposed' WHERE run_id = ? AND correlation_id = ?",
        (run_id, e.correlation_id),
    )
    if cur.rowcount == 0:
        raise ConflictError(f"run {run_id}: hook_disposed for unknown hook {e.correlation_id}")


# Each returns what it reports to append (_HOLDS, _ENDED), or None.
_APPLIERS: dict[str, Callable[[Db, str, int, int, NewEvent], int | None]] = {
    t: globals()[f"_apply_{t}"] for t in EVENT_TYPES
}
