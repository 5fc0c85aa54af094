"""What durability costs an agent, on the local world, against wdk.ai.fake
(a model that answers at once). Prints one JSON line.

    .venv/bin/python bench/agent.py            # 50 runs
    .venv/bin/python bench/agent.py --runs 10

(a) median ms of an agent run of two model calls and one tool call
    (start -> result; 6 steps: 2 model calls, the tool, 3 stream writes)
(b) median ms of the same two model calls made directly with
    OpenAIChat.complete (no workflow, no log): (a) - (b) is wdk's share
(c) text deltas per second streamed through a model step to a reader
    (one answer of 2,000 deltas)
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

USER = [{"role": "user", "content": "look up k"}]


async def main(runs: int) -> dict[str, Any]:
    from bench_agent_flows import ask

    from wdk.ai import OpenAIChat
    from wdk.ai.fake import FakeModelServer, Reply
    from wdk.api import configure, start
    from wdk.runtime.engine import get_runtime, shutdown_runtime

    configure(world="local", data_dir=tempfile.mkdtemp(prefix="wdk-bench-agent-"))
    server = FakeModelServer([Reply(tool_calls=[("lookup", '{"key": "k"}')]), Reply(text="The value of k.")])
    base_url = await server.start()
    await get_runtime(consume=True)
    try:
        durable = []
        for _ in range(runs):
            t0 = time.perf_counter()
            run = await start(ask, base_url, USER)
            assert await run.result() == "The value of k."
            durable.append((time.perf_counter() - t0) * 1000)

        model = OpenAIChat("fake", base_url=base_url)

        async def nothing(chunk: dict[str, Any]) -> None:
            return None

        direct = []
        for _ in range(runs):
            t0 = time.perf_counter()
            first = await model.complete(USER, [], None, nothing)
            tool_result = {"role": "tool", "tool_call_id": "c", "content": "value of k"}
            await model.complete([*USER, first["message"], tool_result], [], None, nothing)
            direct.append((time.perf_counter() - t0) * 1000)

        long = FakeModelServer([Reply(text="x" * 2000, piece=1)])
        long_url = await long.start()
        t0 = time.perf_counter()
        run = await start(ask, long_url, USER)
        deltas = 0
        async for chunk in run.stream():
            deltas += chunk.get("type") == "text-delta"
        seconds = time.perf_counter() - t0
        await long.close()
    finally:
        await shutdown_runtime()
        await server.close()
    return {
        "agent_run_ms_median": round(statistics.median(durable), 2),
        "direct_model_calls_ms_median": round(statistics.median(direct), 2),
        "text_deltas_per_s": round(deltas / seconds),
        "runs": runs,
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=50)
    print(json.dumps(asyncio.run(main(parser.parse_args().runs))))
