"""Hooks and streams: latency and throughput on the local world. Prints one JSON line.

    .venv/bin/python bench/hooks_streams.py            # full sizes, synchronous=NORMAL
    .venv/bin/python bench/hooks_streams.py --quick    # smaller sizes, for a smoke run

(a) hook resume -> workflow continues: `resume_hook()` until the next step of the
    waiting (warm) workflow runs, median and p99 ms          target: <= 5 ms median
(b) stream chunks/s written by a step (small chunks {"i": n})  target: >= 50,000/s
(c) chunks/s read: in process (`Run.stream()`) and over HTTP (NDJSON)
(d) over HTTP: first-chunk latency of a GET on a written stream, and write ->
    received latency of live chunks, median and p99 ms

The workflows live in this file: it is compiled like any workflow module (the
sandbox sees only the imports at the top, which are all deterministic).
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from wdk import create_hook, get_writable

_acks: dict[int, asyncio.Future[float]] = {}


async def ack(i: int) -> None:
    "use step"
    fut = _acks.pop(i, None)
    if fut is not None and not fut.done():
        fut.set_result(time.perf_counter())


async def hook_loop(token: str, n: int) -> int:
    "use workflow"
    hook = create_hook(token)
    seen = 0
    async for i in hook:
        await ack(i)
        seen += 1
        if seen == n:
            break
    return seen


async def write_chunks(n: int) -> float:
    "use step"
    out = get_writable()
    t0 = time.perf_counter()
    for i in range(n):
        await out.write({"i": i})
    await out.close()
    return n / (time.perf_counter() - t0)


async def writer(n: int) -> float:
    "use workflow"
    return await write_chunks(n)


async def timed_chunks(n: int, gap: float) -> int:
    "use step"
    out = get_writable()
    for _ in range(n):
        await out.write(time.perf_counter())
        await asyncio.sleep(gap)
    await out.close()
    return n


async def live_writer(n: int, gap: float) -> int:
    "use workflow"
    return await timed_chunks(n, gap)


def _ms(values: list[float]) -> tuple[float, float]:
    import statistics

    ordered = sorted(values)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    return round(statistics.median(ordered) * 1000, 3), round(p99 * 1000, 3)


async def bench_hooks(samples: int) -> dict[str, Any]:
    from wdk.api import resume_hook, start

    token = "bench-hook"
    run = await start(hook_loop, token, samples + 20)
    while not [e for e in await run.events() if e.type == "hook_created"]:
        await asyncio.sleep(0.005)
    loop = asyncio.get_running_loop()
    lat: list[float] = []
    for i in range(samples + 20):
        fut = _acks[i] = loop.create_future()
        t0 = time.perf_counter()
        await resume_hook(token, i)
        t1 = await asyncio.wait_for(fut, 10)
        if i >= 20:  # the first few warm the instance, the statements, the loop
            lat.append(t1 - t0)
    await run.result(timeout=30)
    median, p99 = _ms(lat)
    return {"hook_resume_ms_median": median, "hook_resume_ms_p99": p99, "hook_samples": samples}


async def bench_streams(n: int, base_url: str) -> dict[str, Any]:
    import aiohttp

    from wdk.api import start

    run = await start(writer, n)
    written = await run.result(timeout=120)
    t0 = time.perf_counter()
    count = 0
    async for _ in run.stream():
        count += 1
    read_local = count / (time.perf_counter() - t0)
    assert count == n
    url = f"{base_url}/.well-known/workflow/v1/runs/{run.id}/stream"
    async with aiohttp.ClientSession() as http:
        t0 = time.perf_counter()
        count = 0
        async with http.get(url) as resp:
            async for _ in resp.content:
                count += 1
        read_http = count / (time.perf_counter() - t0)
        assert count == n
        first: list[float] = []
        for _ in range(50):
            t0 = time.perf_counter()
            async with http.get(url) as resp:
                await resp.content.readline()
                first.append(time.perf_counter() - t0)
        live_run = await start(live_writer, 100, 0.01)
        live: list[float] = []
        async with http.get(f"{base_url}/.well-known/workflow/v1/runs/{live_run.id}/stream") as resp:
            async for line in resp.content:
                live.append(time.perf_counter() - float(line))
        await live_run.result(timeout=30)
    first_med, first_p99 = _ms(first)
    live_med, live_p99 = _ms(live)
    return {
        "stream_chunks": n,
        "stream_write_chunks_per_s": round(written),
        "stream_read_chunks_per_s": round(read_local),
        "http_ndjson_read_chunks_per_s": round(read_http),
        "http_first_chunk_ms_median": first_med,
        "http_first_chunk_ms_p99": first_p99,
        "http_live_chunk_ms_median": live_med,
        "http_live_chunk_ms_p99": live_p99,
    }


async def main(quick: bool) -> dict[str, Any]:
    import os
    import tempfile

    from wdk.api import configure
    from wdk.runtime.engine import current_runtime
    from wdk.server.app import start_server

    data_dir = tempfile.mkdtemp(prefix="wdk-bench-hs-")
    configure(world="local", data_dir=data_dir)
    server = await start_server("127.0.0.1", 0)
    os.environ["WDK_BASE_URL"] = server.url
    try:
        out: dict[str, Any] = {
            "bench": "hooks_streams",
            "synchronous": os.environ.get("WDK_SQLITE_SYNCHRONOUS", "NORMAL"),
        }
        out |= await bench_hooks(200 if quick else 1000)
        out |= await bench_streams(20_000 if quick else 100_000, server.url)
        return out
    finally:
        await server.close()
        rt = current_runtime()
        if rt is not None:
            await rt.stop()
        import shutil

        shutil.rmtree(data_dir, ignore_errors=True)


if __name__ == "__main__":
    import argparse
    import json
    import sys

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="smaller sizes")
    args = parser.parse_args()
    print(json.dumps(asyncio.run(main(args.quick))))
    sys.exit(0)
