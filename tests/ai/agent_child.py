"""Child side of the crash test: starts `agent_flows.chat` with its own
embedded worker, prints the run id, and waits for the result (the test
SIGKILLs it first). `python agent_child.py DATA_DIR API BASE_URL`"""

from __future__ import annotations

import asyncio
import sys

import agent_flows

from wdk.api import configure, start


async def main(data_dir: str, api: str, base_url: str) -> None:
    configure(world="local", data_dir=data_dir)
    run = await start(agent_flows.chat, api, base_url, [{"role": "user", "content": "Oslo?"}])
    print(run.id, flush=True)
    await run.result(timeout=120)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], sys.argv[3]))
