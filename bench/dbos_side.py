"""DBOS Transact's side of `bench/vs_dbos.py`. Runs in DBOS's own throwaway venv
(it never imports wdk); prints one JSON line with the same figures as the wdk side.

    python bench/dbos_side.py --store sqlite:/tmp/x.sqlite --synchronous NORMAL
    python bench/dbos_side.py --store postgresql://postgres@127.0.0.1:5432/test --schema s1

SQLite runs at the durability wdk's local world uses: WAL with the given
`synchronous` (set on every connection DBOS opens). PostgreSQL runs at the
server's settings (synchronous_commit=on), as wdk does.

(a) steps/s, one workflow of `seq` sequential steps
(b) workflows/s, `many` workflows x 10 steps started before awaiting
(c) median ms of a 1-step workflow (start -> result), `latency` runs
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from typing import Any

import sqlalchemy as sa
from dbos import DBOS, DBOSConfig


@DBOS.step()
def noop(i: int) -> int:
    return i + 1


@DBOS.workflow()
def sequential(n: int) -> int:
    total = 0
    for _ in range(n):
        total = noop(total)
    return total


@DBOS.workflow()
def one_step() -> int:
    return noop(0)


def _seq(n: int) -> float:
    t0 = time.perf_counter()
    assert DBOS.start_workflow(sequential, n).get_result() == n
    return time.perf_counter() - t0


def bench(sizes: dict[str, int]) -> dict[str, float]:
    out: dict[str, float] = {}
    _seq(sizes.get("warm", 20))  # warm up (see vs_dbos --warm)
    n = sizes["seq"]
    out["a_steps_per_s"] = round(n / _seq(n))
    runs = sizes["many"]
    t0 = time.perf_counter()
    handles = [DBOS.start_workflow(sequential, 10) for _ in range(runs)]
    for h in handles:
        h.get_result()
    dt = time.perf_counter() - t0
    out["b_workflows_per_s"] = round(runs / dt, 1)
    lat = []
    for _ in range(sizes["latency"]):
        t0 = time.perf_counter()
        DBOS.start_workflow(one_step).get_result()
        lat.append((time.perf_counter() - t0) * 1000)
    out["c_one_step_median_ms"] = round(statistics.median(lat), 3)
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--store", required=True, help="sqlite:PATH or a postgresql:// URL")
    parser.add_argument("--schema", default="dbos")
    parser.add_argument("--synchronous", default="NORMAL")
    parser.add_argument("--sizes", default='{"seq": 1000, "many": 200, "latency": 200}')
    args = parser.parse_args()
    config: DBOSConfig = {"name": "wdk-bench", "run_admin_server": False}  # type: ignore[typeddict-unknown-key]
    if args.store.startswith("sqlite:"):
        sync = args.synchronous

        @sa.event.listens_for(sa.engine.Engine, "connect")
        def _durability(dbapi_conn: Any, _record: Any) -> None:
            dbapi_conn.execute("PRAGMA journal_mode=WAL")
            dbapi_conn.execute(f"PRAGMA synchronous={sync}")

        config["system_database_url"] = "sqlite:///" + args.store.removeprefix("sqlite:")
    else:
        config["system_database_url"] = args.store
        config["dbos_system_schema"] = args.schema
    DBOS(config=config)
    DBOS.launch()
    try:
        print(json.dumps(bench(json.loads(args.sizes))), flush=True)
    finally:
        DBOS.destroy()


if __name__ == "__main__":
    main()
