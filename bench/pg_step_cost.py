"""Where a step's time goes on PostgreSQL: `bench/pg_compare.py`'s (a), taken apart.

    .venv/bin/python bench/pg_step_cost.py [--url URL] [--steps 1000] [--workers 2] [--rounds 3]

(a) one workflow of --steps sequential steps advanced by --workers `wdk worker`
processes (this process starts it client-only and polls for its end). Per step,
over the measured run only (after a 20-step warm-up run):

- workers_cpu_us: the workers' CPU (time.process_time, all their threads)
- statements: what the workers sent, by kind (asyncpg calls counted in them)
- backends_cpu_us: the CPU of the server backends serving the workers
  (/proc/<pid>/stat of the backends named `wdk <schema>`; 10 ms ticks)
- append_ms: server time inside append_events (track_functions=pl on the workers'
  connections; pg_stat_user_functions)
- rows: tuples inserted / updated (HOT) / deleted per step (pg_stat_user_tables)

Then the same run's appends again, one by one from this process into a second
run (the real payloads, batched as the runtime batches them), each under
`EXPLAIN (ANALYZE, WAL)`: WAL bytes, records and full-page images per append
(the commit record, ~40 bytes, is not in it) and the execution time; and the
wall time per append with synchronous_commit on and off (off in this
session only, to split the WAL flush from the rest), beside a bare one-row
INSERT's commit. Prints one JSON line per round, then the medians.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import statistics
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import asyncpg

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from postgres import fresh_schema, workers  # noqa: E402

_TICK = os.sysconf("SC_CLK_TCK")


def _child_worker() -> None:
    """A `wdk worker` that counts its statements and writes them, with its CPU
    time, to $PG_STEP_COST_DIR/<pid>.json on SIGUSR1."""
    sent: Counter[str] = Counter()
    for name in ("execute", "executemany", "fetch", "fetchrow", "fetchval"):
        real = getattr(asyncpg.connection.Connection, name)

        def counted(self: Any, query: str, *args: Any, _real: Any = real, **kwargs: Any) -> Any:
            sent[_kind(query)] += 1
            return _real(self, query, *args, **kwargs)

        setattr(asyncpg.connection.Connection, name, counted)
    out = Path(os.environ["PG_STEP_COST_DIR"]) / f"{os.getpid()}.json"

    def dump(*_: Any) -> None:
        out.write_text(json.dumps({"cpu": time.process_time(), "sent": dict(sent)}))

    signal.signal(signal.SIGUSR1, dump)
    from wdk.cli.main import run

    sys.argv = ["wdk", *sys.argv[2:]]
    run()


def _kind(query: str) -> str:
    words = query.split()
    for w in words:
        if "(" in w and w.split("(")[0].isidentifier():
            return w.split("(")[0]
    return " ".join(words[:2])


async def _snapshot(conn: asyncpg.Connection, schema: str) -> dict[str, Any]:
    pids = [r[0] for r in await conn.fetch(
        "SELECT pid FROM pg_stat_activity WHERE application_name = $1", f"wdk {schema}")]
    cpu = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        cpu += int(fields[11]) + int(fields[12])
    await conn.execute("SELECT pg_stat_clear_snapshot()")
    fn = await conn.fetchrow(
        "SELECT calls, total_time, self_time FROM pg_stat_user_functions "
        "WHERE schemaname = $1 AND funcname = 'append_events'", schema)
    tables = {r[0]: list(r[1:]) for r in await conn.fetch(
        "SELECT relname, n_tup_ins, n_tup_upd, n_tup_hot_upd, n_tup_del FROM pg_stat_user_tables "
        "WHERE schemaname = $1", schema)}
    return {"backend_s": cpu / _TICK, "fn": list(fn) if fn else [0, 0.0, 0.0], "tables": tables,
            "lsn": await conn.fetchval("SELECT pg_current_wal_lsn()::text")}


async def _signal_workers(procs: list[Any], folder: Path) -> dict[str, Any]:
    for p in procs:
        p.send_signal(signal.SIGUSR1)
    await asyncio.sleep(0.3)
    stats = [json.loads((folder / f"{p.pid}.json").read_text()) for p in procs]
    sent: Counter[str] = Counter()
    for s in stats:
        sent.update(s["sent"])
    return {"cpu": sum(s["cpu"] for s in stats), "sent": sent}


async def _until_done(conn: asyncpg.Connection, run_id: str) -> None:
    while await conn.fetchval("SELECT status FROM runs WHERE id = $1", run_id) != "completed":
        await asyncio.sleep(0.01)


async def _measure_run(url: str, schema: str, n: int, procs: list[Any], folder: Path) -> dict[str, Any]:
    from bench_flows import sequential

    from wdk.api import start
    from wdk.runtime.engine import get_runtime

    await get_runtime(consume=False)
    conn = await asyncpg.connect(url, server_settings={"search_path": schema})
    try:
        await _until_done(conn, (await start(sequential, 20)).id)
        await asyncio.sleep(0.5)  # the warm-up run's ack and stats flush
        w0, s0 = await _signal_workers(procs, folder), await _snapshot(conn, schema)
        t0 = time.perf_counter()
        run_id = (await start(sequential, n)).id
        await _until_done(conn, run_id)
        seconds = time.perf_counter() - t0
        await asyncio.sleep(1.2)  # backends flush their function and table stats (1 s)
        w1, s1 = await _signal_workers(procs, folder), await _snapshot(conn, schema)
        wal = await conn.fetchval("SELECT pg_wal_lsn_diff($1::text::pg_lsn, $2::text::pg_lsn)", s1["lsn"], s0["lsn"])
    finally:
        await conn.close()
    sent = w1["sent"] - w0["sent"]
    rows = {t: [b - a for a, b in zip(s0["tables"].get(t, [0] * 4), v, strict=True)]
            for t, v in s1["tables"].items()}
    return {
        "steps_per_s": round(n / seconds),
        "ms_per_step": round(seconds * 1000 / n, 3),
        "workers_cpu_us": round((w1["cpu"] - w0["cpu"]) * 1e6 / n, 1),
        "backends_cpu_us": round((s1["backend_s"] - s0["backend_s"]) * 1e6 / n, 1),
        "statements": {k: round(v / n, 3) for k, v in sorted(sent.items()) if v},
        "append_calls": s1["fn"][0] - s0["fn"][0],
        "append_ms": round((s1["fn"][1] - s0["fn"][1]) / max(1, s1["fn"][0] - s0["fn"][0]), 4),
        "rows_ins_upd_hot_del": {t: [round(x / n, 2) for x in v] for t, v in rows.items() if any(v)},
        "server_wal_bytes_per_step_all_sessions": round(float(wal) / n),
        "run_id": run_id,
    }


def _batches(events: list[Any]) -> list[list[Any]]:
    """The log cut into the runtime's appends: run_started with the first
    step's creation and start, then a completion with the next step's."""
    out: list[list[Any]] = []
    for e in events[1:]:
        if e.type in ("step_completed", "run_started") or not out:
            out.append([e])
        else:
            out[-1].append(e)
    return out


async def _replay_appends(url: str, schema: str, run_id: str) -> dict[str, Any]:
    """The measured run's appends, again, into a new run of this process."""
    from wdk.worlds import pg_log
    from wdk.worlds.base import NewEvent, NewRun

    conn = await asyncpg.connect(url, server_settings={"search_path": schema})
    try:
        rows = await conn.fetch("SELECT seq, type, at, correlation_id, payload FROM events "
                                "WHERE run_id = $1 ORDER BY seq", run_id)
        events = [pg_log.event(run_id, r) for r in rows]
        batches = [[NewEvent(e.type, e.at, e.correlation_id, e.payload) for e in b] for b in _batches(events)]
        out: dict[str, Any] = {}
        for label, sync in (("explain", "on"), ("sync_on", "on"), ("sync_off", "off")):
            copy = f"{run_id}-{label}"
            await pg_log.create_run(conn, NewRun(copy, "copy", time.time(), events[0].payload))
            await conn.execute(f"SET synchronous_commit = {sync}")
            seq, wal, records, fpi, exec_ms, walls = 0, 0, 0, 0, 0.0, []
            for batch in batches:
                args = pg_log._append_args(copy, batch)
                t0 = time.perf_counter()
                if label == "explain":
                    plan = json.loads(await conn.fetchval(
                        "EXPLAIN (ANALYZE, WAL, FORMAT JSON) " + pg_log._APPEND_SQL, copy, seq, *args))[0]
                    wal += plan["Plan"]["WAL Bytes"]
                    records += plan["Plan"]["WAL Records"]
                    fpi += plan["Plan"]["WAL FPI"]
                    exec_ms += plan["Execution Time"]
                else:
                    await conn.execute(pg_log._APPEND_SQL, copy, seq, *args)
                walls.append(time.perf_counter() - t0)
                seq += len(batch)
            n = len(batches)
            if label == "explain":
                out.update(wal_bytes=round(wal / n), wal_records=round(records / n, 2),
                           wal_fpi=round(fpi / n, 3), exec_ms=round(exec_ms / n, 4))
            else:
                out[f"append_{label}_ms"] = round(statistics.median(walls) * 1000, 3)
        await conn.execute("CREATE TABLE bare_insert (id serial PRIMARY KEY, v text)")
        for sync in ("on", "off"):
            await conn.execute(f"SET synchronous_commit = {sync}")
            walls = []
            for _ in range(300):
                t0 = time.perf_counter()
                await conn.execute("INSERT INTO bare_insert (v) VALUES ('x')")
                walls.append(time.perf_counter() - t0)
            out[f"bare_insert_sync_{sync}_ms"] = round(statistics.median(walls) * 1000, 3)
        return out
    finally:
        await conn.close()


def one_round(url: str, n_workers: int, n: int) -> dict[str, Any]:
    from wdk.runtime import config

    with fresh_schema(url) as schema, tempfile.TemporaryDirectory() as folder:
        sep = "&" if "?" in url else "?"
        worker_url = f"{url}{sep}track_functions=pl"
        env = {**os.environ, "WDK_POSTGRES_URL": worker_url, "WDK_POSTGRES_SCHEMA": schema,
               "PG_STEP_COST_DIR": folder}
        config.reset()
        config.configure(world="postgres", url=url, schema=schema, worker=False)
        cmd = [sys.executable, str(Path(__file__).resolve()), "--child-worker", "worker",
               "--world", "postgres", "--path", str(HERE)]
        with workers(n_workers, env, cmd) as procs:
            result = asyncio.run(_measure_run(url, schema, n, procs, Path(folder)))
        result.update(asyncio.run(_replay_appends(url, schema, result.pop("run_id"))))
    return result


def main() -> None:
    if sys.argv[1:2] == ["--child-worker"]:
        _child_worker()
        return
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", default=os.environ.get("WDK_POSTGRES_URL") or "postgresql://postgres@127.0.0.1:5432/test")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    rounds = []
    for _ in range(args.rounds):
        rounds.append(one_round(args.url, args.workers, args.steps))
        print(json.dumps(rounds[-1]), flush=True)
    numeric = [k for k, v in rounds[0].items() if isinstance(v, int | float)]
    print(json.dumps({"median": {k: statistics.median(r[k] for r in rounds) for k in numeric}}), flush=True)


if __name__ == "__main__":
    main()
