"""Record tests/histories/agent_tool_calls.json from a real agent run.

    .venv/bin/python scripts/record_agent_history.py

Runs tests/e2e/flows/replayable_agent.py's `agent_chat` on a throwaway local
world against wdk.ai.fake (a text delta, two parallel tool calls, then an
answer) and writes its event log as JSON; tests/replay replays it against
the current code. Review the diff: a history that changes means agent runs
in flight would stop replaying.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "tests" / "histories" / "agent_tool_calls.json"
sys.path[:0] = [str(ROOT / "tests" / "e2e"), str(ROOT)]

from flows import replayable_agent  # noqa: E402

from wdk.ai.fake import FakeModelServer, Reply  # noqa: E402
from wdk.api import configure, start  # noqa: E402
from wdk.runtime.engine import shutdown_runtime  # noqa: E402
from wdk.runtime.replay import dump_history  # noqa: E402


async def record() -> None:
    server = FakeModelServer([
        Reply(text="Looking up.", tool_calls=[("lookup", '{"key": "a"}'), ("lookup", '{"key": "b"}')]),
        Reply(text="a and b have values."),
    ])
    try:
        run = await start(replayable_agent.agent_chat, await server.start(), "what are a and b?")
        print(f"result: {await run.result(timeout=30)!r}")
        dump_history(await run.events(), OUT)
        print(f"recorded {OUT.name}: {run.id} ({await run.status()})")
    finally:
        await shutdown_runtime()
        await server.close()


def main() -> None:
    with tempfile.TemporaryDirectory() as data_dir:
        configure(world="local", data_dir=data_dir)
        asyncio.run(record())


if __name__ == "__main__":
    main()
