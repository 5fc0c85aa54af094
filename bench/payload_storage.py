"""Bytes on disk for one large payload (issue 15: store a payload once). Prints one JSON line.

    .venv/bin/python bench/payload_storage.py            # 8 MiB, through `wdk serve`'s API
    .venv/bin/python bench/payload_storage.py --mib 32

The workflow passes its input to a step and returns the step's result: the
value is the run's input, the step's input and result, the run's result and
its output. Sizes of the SQLite file (and WAL) while the server runs and
after it stops (the WAL checkpointed), in MiB, and the ratio to the payload.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))


def _mib(folder: Path) -> float:
    return sum(p.stat().st_size for p in folder.glob("wdk.sqlite3*")) / (1 << 20)


async def main(mib: int) -> dict[str, float]:
    from wdk.api import configure
    from wdk.client.base import StartOptions
    from wdk.client.http import HttpClient
    from wdk.runtime.engine import shutdown_runtime
    from wdk.server.app import start_server

    data = Path(tempfile.mkdtemp()) / "wdk"
    configure(world="local", data_dir=data)
    server = await start_server("127.0.0.1", 0, api_token="bench")
    client = HttpClient(server.url, api_token="bench")
    value = "x" * (mib << 20)
    run_id = await client.start("workflow//bench_flows//through_a_step", (value,), {}, StartOptions())
    assert await client.result(run_id, 120) == value
    running = _mib(data)
    await server.close()
    await shutdown_runtime()
    stopped = _mib(data)
    return {"payload_mib": mib, "running_mib": round(running, 1), "stopped_mib": round(stopped, 1),
            "copies": round(stopped / mib, 2)}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mib", type=int, default=8)
    print(json.dumps(asyncio.run(main(parser.parse_args().mib))))
