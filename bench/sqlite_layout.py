"""WAL pages and time per step commit for three layouts of the local world's
`events` and `steps` tables, in bare SQLite (no wdk):

- `text`: schema version 10's, both WITHOUT ROWID and keyed by the run id's text;
- `num_cid`: events in a rowid table keyed (run number << 32) | seq, steps
  WITHOUT ROWID keyed (run number, correlation id) (measured, not adopted);
- `v11`: schema version 11's: both rowid tables, steps keyed
  (run number << 32) | call number (`wdk/worlds/sqlite_keys.py`).

Each commit is what a sequential step writes: three events, the previous
step's row updated, the next one inserted. One run appends at the end of the
b-trees, where SQLite splits a rowid table's last page without rebalancing its
neighbours (balance_quick); eight interleaved runs insert mid-tree.

    .venv/bin/python bench/sqlite_layout.py [--commits 3000] [--rounds 2] [--synchronous NORMAL]

A real 1,000-step run writes the same pages per step as `text` before
version 11 and as `v11` after (docs/performance.md, "Session 7 (storage)").
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import tempfile
import time

_PAYLOAD = bytearray(b'{"step_id":"step//bench_flows//noop","args":[[123],{}]}')
_STEP_COLS = (
    "correlation_id TEXT NOT NULL, seq INTEGER, step_id TEXT, status TEXT, attempt INTEGER, "
    "created_at REAL, updated_at REAL, started_at REAL, completed_at REAL, retry_at REAL, error BLOB"
)
_INT_EVENTS = "CREATE TABLE events (k INTEGER PRIMARY KEY, type TEXT, at REAL, correlation_id TEXT, payload BLOB)"
_SCHEMAS = {
    "text": (
        "CREATE TABLE events (run_id TEXT NOT NULL, seq INTEGER NOT NULL, type TEXT, at REAL, "
        "correlation_id TEXT, payload BLOB, PRIMARY KEY (run_id, seq)) WITHOUT ROWID",
        f"CREATE TABLE steps (run_id TEXT NOT NULL, {_STEP_COLS}, PRIMARY KEY (run_id, correlation_id)) WITHOUT ROWID",
    ),
    "num_cid": (
        _INT_EVENTS,
        f"CREATE TABLE steps (run_num INTEGER NOT NULL, {_STEP_COLS}, "
        "PRIMARY KEY (run_num, correlation_id)) WITHOUT ROWID",
    ),
    "v11": (_INT_EVENTS, f"CREATE TABLE steps (k INTEGER PRIMARY KEY, {_STEP_COLS})"),
}


def _cid(n: int) -> str:
    return f"step_{n}_9f2c1a7b0d4e6f81"


def _event_key(layout: str, run_id: str, num: int, seq: int) -> tuple[object, ...]:
    return (run_id, seq) if layout == "text" else ((num << 32) | seq,)


def _step_key(layout: str, run_id: str, num: int, n: int) -> tuple[object, ...]:
    if layout == "text":
        return (run_id, _cid(n))
    if layout == "num_cid":
        return (num, _cid(n))
    return ((num << 32) | n, _cid(n))


def _step_where(layout: str) -> str:
    return {"text": "run_id = ? AND correlation_id = ?", "num_cid": "run_num = ? AND correlation_id = ?"}.get(
        layout, "k = ?"
    )


def measure(layout: str, runs: int, commits: int, synchronous: str) -> dict[str, float]:
    path = os.path.join(tempfile.mkdtemp(prefix="wdk-layout-"), "x.sqlite3")
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA journal_mode = WAL")
    db.execute(f"PRAGMA synchronous = {synchronous}")
    db.execute("PRAGMA wal_autocheckpoint = 0")  # every frame stays in the WAL to be counted
    for ddl in _SCHEMAS[layout]:
        db.execute(ddl)
    run_ids = [f"wrun_01a22f675583d15bbcc99e6d00{r:08d}" for r in range(runs)]
    seqs, calls = [0] * runs, [0] * runs
    t0 = time.perf_counter()
    for i in range(commits):
        r = i % runs
        num, n = r + 1, calls[r]
        calls[r] += 1
        db.execute("BEGIN IMMEDIATE")
        rows = []
        for _ in range(3):
            seqs[r] += 1
            rows.append((*_event_key(layout, run_ids[r], num, seqs[r]), "step_created", 1.0, _cid(n), _PAYLOAD))
        db.executemany(f"INSERT INTO events VALUES ({', '.join('?' * len(rows[0]))})", rows)
        if n:
            prev = _step_key(layout, run_ids[r], num, n - 1)
            db.execute(
                f"UPDATE steps SET status = 'completed', completed_at = 2.0 WHERE {_step_where(layout)}",
                prev[:1] if layout == "v11" else prev,
            )
        step = _step_key(layout, run_ids[r], num, n)
        db.execute(
            f"INSERT INTO steps VALUES ({', '.join('?' * len(step))}, ?, ?, 'running', 1, 1.0, 1.0, 1.0, NULL, NULL, NULL)",
            (*step, seqs[r], "step//bench_flows//noop"),
        )
        db.execute("COMMIT")
    elapsed = time.perf_counter() - t0
    frames = (os.path.getsize(path + "-wal") - 32) / (db.execute("PRAGMA page_size").fetchone()[0] + 24)
    db.close()
    return {"pages_per_commit": round(frames / commits, 2), "us_per_commit": round(elapsed / commits * 1e6, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--commits", type=int, default=3000)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--synchronous", default="NORMAL", choices=("NORMAL", "FULL"))
    args = parser.parse_args()
    for rnd in range(args.rounds):
        for runs in (1, 8):
            for layout in _SCHEMAS:
                figures = measure(layout, runs, args.commits, args.synchronous)
                print(json.dumps({"round": rnd, "layout": layout, "runs": runs, **figures}))


if __name__ == "__main__":
    main()
