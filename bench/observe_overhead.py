"""What metrics, spans and logs cost a run on the local world.

    .venv/bin/python bench/observe_overhead.py [--modes off,default,traced] [--root DIR] [--rounds 3]

Each mode runs in a child process on a fresh data dir: (a) best steps/s of a
2,000-step sequential run (of 5), and (c) the 10th and 50th percentile ms of
300 one-step runs (start -> result). Modes:

- off: WDK_OTEL=0 (metrics are still counted: they always are);
- default: OpenTelemetry installed, no SDK provider set (what most users have);
- traced: an SDK TracerProvider whose spans go to an exporter that drops them
  (the cost of making the spans, not of shipping them).

`--root DIR` runs the same workload against another checkout of wdk (for a
before/after: `git archive main | tar -x -C /tmp/wdk-main`), which knows no
modes: its figures appear as "root". One JSON line per round.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


async def child(mode: str) -> dict[str, float]:
    if mode == "traced":
        from opentelemetry import trace
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import (
            SimpleSpanProcessor,
            SpanExporter,
            SpanExportResult,
        )

        class Drop(SpanExporter):
            def export(self, spans: object) -> SpanExportResult:
                return SpanExportResult.SUCCESS

        provider = TracerProvider()
        provider.add_span_processor(SimpleSpanProcessor(Drop()))
        trace.set_tracer_provider(provider)
    from bench_flows import one_step, sequential

    from wdk.api import start
    from wdk.runtime.engine import get_runtime

    await get_runtime()
    await (await start(sequential, 20)).result()
    best = 0.0
    for _ in range(5):
        began = time.perf_counter()
        await (await start(sequential, 2000)).result()
        best = max(best, 2000 / (time.perf_counter() - began))
    latencies = []
    for _ in range(300):
        began = time.perf_counter()
        await (await start(one_step)).result()
        latencies.append((time.perf_counter() - began) * 1000)
    latencies.sort()
    return {"a_steps_per_s": round(best), "c_p10_ms": round(latencies[30], 3), "c_p50_ms": round(latencies[150], 3)}


def run_child(mode: str, root: Path) -> dict[str, float]:
    env = {**os.environ, "WDK_DATA_DIR": tempfile.mkdtemp(prefix="wdk-observe-")}
    env.pop("WDK_SERVER_URL", None)
    if mode == "off":
        env["WDK_OTEL"] = "0"
    code = (
        f"import sys, asyncio, json; sys.path[:0] = [{str(root)!r}, {str(HERE)!r}]; "
        f"import observe_overhead as o; print(json.dumps(asyncio.run(o.child({mode!r}))))"
    )
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    result: dict[str, float] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--modes", default="off,default,traced")
    parser.add_argument("--root", default=None, help="another checkout of wdk to compare with")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    for _ in range(args.rounds):
        line: dict[str, object] = {}
        if args.root:
            line["root"] = run_child("default", Path(args.root).resolve())
        for mode in args.modes.split(","):
            line[mode] = run_child(mode, HERE.parent)
        print(json.dumps(line), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
