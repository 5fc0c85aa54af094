"""The local world's streams in SQL: append, close, read, and rolling back an attempt.

Functions of a connection, called inside the group commit's transaction (see
`sqlite_commit.py`), so each is atomic and sees every earlier write. Index ranges
written by one step attempt are kept in `stream_segments` (schema version 3):
rolling the attempt back hides exactly those chunks and appends one marker
per stream, listing them.
"""

from __future__ import annotations

import sqlite3
from itertools import groupby

from wdk.errors import RunNotFound, StreamClosedError
from wdk.worlds.base import TERMINAL_STATUSES, StreamChunk
from wdk.worlds.sql import ABANDONED, CHUNK, MARKER, encode_ranges, stream_chunk


def run_ended(conn: sqlite3.Connection, run_id: str) -> bool:
    """Whether the run is terminal; RunNotFound unless it exists."""
    row = conn.execute("SELECT status FROM runs WHERE id = ?", (run_id,)).fetchone()
    if row is None:
        raise RunNotFound(run_id)
    return row[0] in TERMINAL_STATUSES


def _abandoned(conn: sqlite3.Connection, run_id: str, attempt: str | None) -> bool:
    return attempt is not None and conn.execute(
        "SELECT 1 FROM stream_abandoned WHERE run_id = ? AND attempt = ?", (run_id, attempt)
    ).fetchone() is not None


def append(
    conn: sqlite3.Connection, run_id: str, namespace: str, chunks: list[bytes], attempt: str | None
) -> int:
    """Append in order; the index after the last chunk."""
    row = conn.execute(
        "SELECT next_index, closed FROM streams WHERE run_id = ? AND namespace = ?",
        (run_id, namespace),
    ).fetchone()
    if row is None:
        if run_ended(conn, run_id):
            raise StreamClosedError.of(run_id, namespace, "ended with its run")
        start = 0
        conn.execute(
            "INSERT INTO streams (run_id, namespace, next_index) VALUES (?, ?, 0)",
            (run_id, namespace),
        )
    elif row[1]:
        raise StreamClosedError.of(run_id, namespace)
    else:
        start = row[0]
    hidden = _abandoned(conn, run_id, attempt)
    kind = ABANDONED if hidden else CHUNK
    conn.executemany(
        "INSERT INTO stream_chunks (run_id, namespace, idx, data, kind) VALUES (?, ?, ?, ?, ?)",
        [(run_id, namespace, start + i, c, kind) for i, c in enumerate(chunks)],
    )
    end = start + len(chunks)
    conn.execute(
        "UPDATE streams SET next_index = ? WHERE run_id = ? AND namespace = ?",
        (end, run_id, namespace),
    )
    if attempt is not None and not hidden and chunks:
        _record_segment(conn, run_id, namespace, attempt, start, end)
    return end


def _record_segment(
    conn: sqlite3.Connection, run_id: str, namespace: str, attempt: str, start: int, end: int
) -> None:
    # Consecutive appends of one attempt extend one segment: a step streaming
    # tokens in many batches costs one row, not one per batch.
    last = conn.execute(
        "SELECT start, stop, attempt FROM stream_segments WHERE run_id = ? AND namespace = ? "
        "ORDER BY start DESC LIMIT 1",
        (run_id, namespace),
    ).fetchone()
    if last is not None and last[1] == start and last[2] == attempt:
        conn.execute(
            "UPDATE stream_segments SET stop = ? WHERE run_id = ? AND namespace = ? AND start = ?",
            (end, run_id, namespace, last[0]),
        )
    else:
        conn.execute(
            "INSERT INTO stream_segments (run_id, namespace, start, stop, attempt) VALUES (?, ?, ?, ?, ?)",
            (run_id, namespace, start, end, attempt),
        )


def close(conn: sqlite3.Connection, run_id: str, namespace: str, attempt: str | None) -> None:
    """Mark the stream closed (remembering by which attempt); a rolled-back attempt's close is ignored."""
    run_ended(conn, run_id)
    if _abandoned(conn, run_id, attempt):
        return
    conn.execute(
        "INSERT INTO streams (run_id, namespace, next_index, closed, closed_by) VALUES (?, ?, 0, 1, ?) "
        "ON CONFLICT (run_id, namespace) DO UPDATE SET closed = 1, "
        "closed_by = CASE WHEN closed THEN closed_by ELSE excluded.closed_by END",
        (run_id, namespace, attempt),
    )


def rollback(conn: sqlite3.Connection, run_id: str, attempt: str) -> tuple[int, set[str]]:
    """Abandon the attempt's chunks, one marker per stream; (chunks abandoned, streams touched)."""
    run_ended(conn, run_id)
    conn.execute(
        "INSERT OR IGNORE INTO stream_abandoned (run_id, attempt) VALUES (?, ?)", (run_id, attempt)
    )
    segments = conn.execute(
        "SELECT namespace, start, stop FROM stream_segments WHERE run_id = ? AND attempt = ? "
        "ORDER BY namespace, start",
        (run_id, attempt),
    ).fetchall()
    conn.execute("DELETE FROM stream_segments WHERE run_id = ? AND attempt = ?", (run_id, attempt))
    total = 0
    touched: set[str] = set()
    for namespace, rows in groupby(segments, key=lambda r: str(r[0])):
        ranges = tuple((int(r[1]), int(r[2])) for r in rows)
        for start, stop in ranges:
            total += conn.execute(
                "UPDATE stream_chunks SET kind = ? WHERE run_id = ? AND namespace = ? "
                "AND idx >= ? AND idx < ? AND kind = ?",
                (ABANDONED, run_id, namespace, start, stop, CHUNK),
            ).rowcount
        (index,) = conn.execute(
            "UPDATE streams SET next_index = next_index + 1 WHERE run_id = ? AND namespace = ? "
            "RETURNING next_index - 1",
            (run_id, namespace),
        ).fetchone()
        conn.execute(
            "INSERT INTO stream_chunks (run_id, namespace, idx, data, kind) VALUES (?, ?, ?, ?, ?)",
            (run_id, namespace, index, encode_ranges(ranges), MARKER),
        )
        touched.add(namespace)
    reopened = conn.execute(
        "UPDATE streams SET closed = 0, closed_by = NULL WHERE run_id = ? AND closed_by = ? "
        "RETURNING namespace",
        (run_id, attempt),
    ).fetchall()
    touched.update(r[0] for r in reopened)
    return total, touched


def read(
    conn: sqlite3.Connection, run_id: str, namespace: str, start: int, limit: int
) -> tuple[list[StreamChunk], bool]:
    """Up to `limit` chunks and markers from `start` (never an abandoned one), and whether it is closed."""
    # Closed flag first: if it says closed, every chunk is already there.
    row = conn.execute(
        "SELECT closed FROM streams WHERE run_id = ? AND namespace = ?", (run_id, namespace)
    ).fetchone()
    if row is None:
        return [], run_ended(conn, run_id)  # a namespace never written ends with its run
    rows = conn.execute(
        "SELECT idx, data, kind FROM stream_chunks WHERE run_id = ? AND namespace = ? AND idx >= ? "
        "AND kind != ? ORDER BY idx LIMIT ?",
        (run_id, namespace, start, ABANDONED, limit),
    ).fetchall()
    return [stream_chunk(r[0], r[1], r[2]) for r in rows], bool(row[0])
