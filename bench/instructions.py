"""Instructions per step (and per run), counted by valgrind's callgrind: the
figure this 2-core machine's load does not move (CPU time moves by ±20%).
Each figure is the difference of two runs of one process, divided by the
difference in work, so start-up (imports, the compiler) cancels out:

(a) one workflow of N sequential steps: (count(1200) - count(200)) / 1000
(b) R workflows x 10 steps started before awaiting: (count(120) - count(20)) / 1000 steps
(c) 1-step runs one after another: (count(120) - count(20)) / 100 runs

    .venv/bin/python bench/instructions.py                 # this checkout's wdk
    .venv/bin/python bench/instructions.py --steady        # the time-based polls pushed out
    cd /tmp && PYTHONPATH=/tmp/old .venv/bin/python /path/bench/instructions.py   # another checkout's

Needs `valgrind` (Debian package). About two minutes.

Under valgrind a run lasts tens of seconds, so the local queue's 50 ms polls,
the runtime's cancel checks and (at NORMAL) the checkpoint thread land in the
count a varying number of times: two counts of one tree differ by up to ~3%.
`--steady` runs at synchronous=FULL (no checkpoint thread) with those polls
pushed out; two counts of one tree then agree within ~0.5k per step. Its
figures are lower than the default's: compare like with like.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
SIZES = {"a": (200, 1200, 1000), "b": (20, 120, 1000), "c": (20, 120, 100)}


async def _work(mode: str, n: int) -> None:
    from bench_flows import one_step, sequential

    from wdk.api import start

    if mode == "a":
        await (await start(sequential, n)).result()
    elif mode == "b":
        handles = [await start(sequential, 10) for _ in range(n)]
        for h in handles:
            await h.result()
    else:
        for _ in range(n):
            await (await start(one_step)).result()


def callgrind(argv: list[str], env: dict[str, str] | None = None) -> int:
    """Instructions callgrind counts for `python argv...` (also bench/pg_instructions.py's)."""
    out = subprocess.run(
        ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null", sys.executable, *argv],
        capture_output=True, text=True, check=True, env=env,
    ).stderr
    found = re.search(r"Collected : (\d+)", out)
    if found is None:
        raise SystemExit(f"no instruction count from valgrind:\n{out[-2000:]}")
    return int(found.group(1))


def _count(mode: str, n: int, steady: bool) -> int:
    env = {**os.environ, "WDK_SQLITE_SYNCHRONOUS": "FULL"} if steady else None
    return callgrind([__file__, "--child", mode, str(n), *(["--steady"] if steady else [])], env)


def _push_out_polls(data_dir: str) -> None:
    """The timed polls set past the run's end (leases and reconciles with them)."""
    import wdk.runtime.engine as engine
    import wdk.worlds.local as local_world
    from wdk.api import configure

    engine.CANCEL_CHECK_SECONDS = engine.POLL_SECONDS = 1e6
    local_world.QUEUE_POLL_SECONDS = 1e6
    configure(data_dir=data_dir, lease_seconds=3600.0, reconcile_seconds=1e6)


def main() -> None:
    if sys.argv[1:2] == ["--child"]:
        sys.path.insert(0, str(HERE))
        from wdk.api import configure

        data_dir = tempfile.mkdtemp(prefix="wdk-instr-")
        if "--steady" in sys.argv:
            _push_out_polls(data_dir)
        else:
            configure(data_dir=data_dir)
        asyncio.run(_work(sys.argv[2], int(sys.argv[3])))
        return
    steady = "--steady" in sys.argv[1:]
    import wdk

    figures: dict[str, object] = {"wdk": str(Path(wdk.__file__).parent), "steady": steady}
    for mode, (small, large, units) in SIZES.items():
        figures[f"{mode}_instructions_per_{'run' if mode == 'c' else 'step'}"] = (
            _count(mode, large, steady) - _count(mode, small, steady)
        ) // units
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
