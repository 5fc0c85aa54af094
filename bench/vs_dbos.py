"""wdk and DBOS Transact side by side, in one process tree, at equal durability.
Prints one JSON line per store with both sides' figures and the ratios.

    .venv/bin/python bench/vs_dbos.py                       # sqlite NORMAL and FULL, postgres
    .venv/bin/python bench/vs_dbos.py --stores NORMAL --quick
    .venv/bin/python bench/vs_dbos.py --stores postgres --url postgresql://postgres@127.0.0.1:5432/test

DBOS is not a dependency of wdk: the first run makes a throwaway venv
(`--dbos-venv`, default /tmp/wdk-bench-dbos) and installs `dbos==3.4.*` into it
with pip; `bench/dbos_side.py` runs there. The two sides run one after the
other, `--rounds` times alternating, and each figure is the median of its
rounds: on a noisy machine, read the ratios, not the absolute numbers.

Stores: NORMAL / FULL are SQLite in WAL mode with that `synchronous` for both
(wdk's local world; DBOS's SQLite system database with the same pragmas);
`postgres` is one database server at its own settings (synchronous_commit=on)
for both, each in a fresh schema.

(a) steps/s, one workflow of 1,000 sequential steps. On postgres, wdk's run is
    advanced by `--pg-workers` `wdk worker` processes (this process only starts
    it and waits); DBOS runs it in process, as it does.
(b) workflows/s, 200 workflows x 10 steps started before awaiting
(c) median ms of a 1-step workflow (start -> result), 200 runs
--warm N: the sequential workflow each SQLite side runs before (a) (default
    20: compile, sandbox, connection). A new store's WAL file grows during its
    first ~1,000 pages of commits, and at FULL a commit that grows it costs
    ~1.7x one that overwrites it (raw_commits_no_checkpoint_per_s below); 600
    steps take both sides past that, so (a) measures a store in use.
raw_commits_per_s: single-event SQLite commits/s on the same disk and mode (one
    INSERT of an event-sized row per transaction, nothing else): the physical
    limit (a) is compared with.
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
DBOS_SPEC = "dbos==3.4.*"
SIZES = {"seq": 1000, "many": 200, "latency": 200}
QUICK = {"seq": 300, "many": 50, "latency": 50}


def dbos_python(venv: Path) -> str:
    """The throwaway venv's python, made (and DBOS installed) on first use."""
    python = venv / "bin" / "python"
    probe = [str(python), "-c", "import dbos"]
    if python.exists() and subprocess.run(probe, capture_output=True, check=False).returncode == 0:
        return str(python)
    print(f"installing {DBOS_SPEC} into {venv} ...", file=sys.stderr, flush=True)
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    subprocess.run([str(python), "-m", "pip", "install", "-q", DBOS_SPEC], check=True)
    return str(python)


def _json_child(cmd: list[str], env: dict[str, str] | None = None) -> dict[str, float]:
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    lines = [line for line in out.stdout.splitlines() if line.startswith("{")]
    if out.returncode != 0 or not lines:
        raise SystemExit(f"bench child failed: {' '.join(cmd)}\n{out.stderr[-3000:]}")
    return json.loads(lines[-1])  # type: ignore[no-any-return]


def raw_commits(mode: str, n: int, checkpoints: bool = True) -> float:
    """Single-event commits/s on this disk: the most any event log can do one commit at a time.
    `checkpoints=False`: none at all during the loop (wdk's local world runs them
    on a thread of its own), the stricter limit."""
    with tempfile.TemporaryDirectory(prefix="wdk-raw-") as d:
        conn = sqlite3.connect(os.path.join(d, "raw.sqlite3"), isolation_level=None)
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute(f"PRAGMA synchronous = {mode}")
        if not checkpoints:
            conn.execute("PRAGMA wal_autocheckpoint = 0")
        conn.execute(
            "CREATE TABLE events (run_id TEXT, seq INTEGER, type TEXT, at REAL, "
            "correlation_id TEXT, payload BLOB, PRIMARY KEY (run_id, seq))"
        )
        payload = b'{"result": 1}'
        t0 = time.perf_counter()
        for i in range(n):
            conn.execute("BEGIN IMMEDIATE")
            conn.execute(
                "INSERT INTO events VALUES (?, ?, ?, ?, ?, ?)",
                ("wrun_0194f00dd00d1234567890abcdef", i, "step_completed", time.time(), "c1", payload),
            )
            conn.execute("COMMIT")
        conn.close()
        return n / (time.perf_counter() - t0)


def wdk_sqlite(mode: str, sizes: dict[str, int]) -> dict[str, float]:
    env = {**os.environ, "WDK_SQLITE_SYNCHRONOUS": mode}
    cmd = [sys.executable, str(HERE / "throughput.py"), "--child", "compare", "--sizes", json.dumps(sizes)]
    return _json_child(cmd, env)


def dbos_sqlite(python: str, mode: str, sizes: dict[str, int]) -> dict[str, float]:
    with tempfile.TemporaryDirectory(prefix="wdk-bench-dbos-") as d:
        store = f"sqlite:{d}/dbos.sqlite"
        cmd = [python, str(HERE / "dbos_side.py"), "--store", store, "--synchronous", mode]
        return _json_child([*cmd, "--sizes", json.dumps(sizes)])


def wdk_postgres(url: str, workers: int, sizes: dict[str, int]) -> dict[str, float]:
    cmd = [sys.executable, str(HERE / "pg_compare.py"), "--url", url, "--workers", str(workers)]
    return _json_child([*cmd, "--sizes", json.dumps(sizes)])


def dbos_postgres(python: str, url: str, sizes: dict[str, int]) -> dict[str, float]:
    schema = f"dbos_bench_{uuid.uuid4().hex[:8]}"
    try:
        cmd = [python, str(HERE / "dbos_side.py"), "--store", url, "--schema", schema]
        return _json_child([*cmd, "--sizes", json.dumps(sizes)])
    finally:
        subprocess.run(
            ["psql", url, "-qc", f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'],
            capture_output=True, check=False,
        )


def _median(rounds: list[dict[str, float]]) -> dict[str, float]:
    return {k: round(statistics.median(r[k] for r in rounds), 3) for k in rounds[0]}


def _ratios(wdk: dict[str, float], dbos: dict[str, float]) -> dict[str, float]:
    return {
        "a_ratio": round(wdk["a_steps_per_s"] / dbos["a_steps_per_s"], 2),
        "b_ratio": round(wdk["b_workflows_per_s"] / dbos["b_workflows_per_s"], 2),
        "c_ratio": round(wdk["c_one_step_median_ms"] / dbos["c_one_step_median_ms"], 3),
    }


def compare(store: str, args: argparse.Namespace, python: str) -> dict[str, Any]:
    sizes = {**(QUICK if args.quick else SIZES), "warm": args.warm}
    wdk_rounds: list[dict[str, float]] = []
    dbos_rounds: list[dict[str, float]] = []
    raw: list[float] = []
    raw_bare: list[float] = []
    for _ in range(args.rounds):
        if store == "postgres":
            pg_sizes = {k: v for k, v in sizes.items() if k != "warm"}  # --warm is SQLite's
            wdk_rounds.append(wdk_postgres(args.url, args.pg_workers, pg_sizes))
            dbos_rounds.append(dbos_postgres(python, args.url, pg_sizes))
        else:
            wdk_rounds.append(wdk_sqlite(store, sizes))
            dbos_rounds.append(dbos_sqlite(python, store, sizes))
            raw.append(raw_commits(store, 20_000 if store == "NORMAL" else 2_000))
            raw_bare.append(raw_commits(store, 20_000 if store == "NORMAL" else 2_000, checkpoints=False))
    wdk, dbos = _median(wdk_rounds), _median(dbos_rounds)
    out: dict[str, Any] = {"store": store, "rounds": args.rounds, "wdk": wdk, "dbos": dbos, **_ratios(wdk, dbos)}
    if raw:
        out["warm"] = args.warm
        out["raw_commits_per_s"] = round(statistics.median(raw))
        out["a_share_of_raw"] = round(wdk["a_steps_per_s"] / out["raw_commits_per_s"], 3)
        out["raw_commits_no_checkpoint_per_s"] = round(statistics.median(raw_bare))
        out["a_share_of_raw_no_checkpoint"] = round(wdk["a_steps_per_s"] / out["raw_commits_no_checkpoint_per_s"], 3)
    out["ranges"] = {
        "wdk_a": [min(r["a_steps_per_s"] for r in wdk_rounds), max(r["a_steps_per_s"] for r in wdk_rounds)],
        "a_ratio": [
            round(min(w["a_steps_per_s"] / d["a_steps_per_s"] for w, d in zip(wdk_rounds, dbos_rounds, strict=True)), 2),
            round(max(w["a_steps_per_s"] / d["a_steps_per_s"] for w, d in zip(wdk_rounds, dbos_rounds, strict=True)), 2),
        ],
    }
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--stores", default="NORMAL,FULL,postgres")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="smaller sizes, a smoke run")
    parser.add_argument("--pg-workers", type=int, default=2)
    parser.add_argument(
        "--warm", type=int, default=20,
        help="steps of the warm-up workflow before (a), both sides on SQLite (600: a store in use, see below)",
    )
    parser.add_argument("--url", default=os.environ.get("WDK_POSTGRES_URL") or "postgresql://postgres@127.0.0.1:5432/test")
    parser.add_argument("--dbos-venv", type=Path, default=Path(tempfile.gettempdir()) / "wdk-bench-dbos")
    args = parser.parse_args()
    python = dbos_python(args.dbos_venv)
    for store in args.stores.split(","):
        print(json.dumps(compare(store, args, python)), flush=True)


if __name__ == "__main__":
    main()
