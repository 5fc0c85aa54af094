"""Streaming: a step streams "tokens" while the client reads them live over
HTTP, drops the connection halfway, and resumes from where it stopped.

    python examples/streaming.py

The script starts the wdk server in process on a free port. The same stream
is readable with curl while the run is going (with the server's API token,
WDK_API_TOKEN; see docs/security.md):

    curl -N -H "authorization: Bearer $WDK_API_TOKEN" http://127.0.0.1:PORT/.well-known/workflow/v1/runs/RUN_ID/stream
    curl -N -H "authorization: Bearer $WDK_API_TOKEN" -H 'accept: text/event-stream' 'http://.../stream?namespace=progress'
"""

from __future__ import annotations

import asyncio

from wdk import Writable, get_writable

STORY = (
    "Durable workflows keep their state in an event log, so a run survives crashes, "
    "deploys and long waits, and its output streams to any reader who asks for it."
).split()


async def generate(prompt: str, progress: Writable) -> int:
    "use step"
    out = get_writable()  # the run's default stream
    for i, word in enumerate(STORY):
        await out.write({"token": word})
        if i % 10 == 0:
            await progress.write(f"{i}/{len(STORY)} tokens")
        await asyncio.sleep(0.03)  # a model thinking
    await out.close()
    await progress.write("done")
    await progress.close()
    return len(STORY)


async def write_story(prompt: str) -> str:
    "use workflow"
    progress = get_writable("progress")  # a writer made here and passed to a step
    count = await generate(prompt, progress)
    return f"{count} tokens for {prompt!r}"


async def demo() -> None:
    import json
    import secrets
    import tempfile

    import aiohttp

    from wdk.api import configure, start
    from wdk.runtime.engine import current_runtime
    from wdk.server.app import start_server

    configure(data_dir=tempfile.mkdtemp(prefix="wdk-streaming-"))
    token = secrets.token_urlsafe(24)  # the server's API token (WDK_API_TOKEN)
    server = await start_server("127.0.0.1", 0, api_token=token)
    try:
        run = await start(write_story, "a story about durability")
        url = f"{server.url}/.well-known/workflow/v1/runs/{run.id}/stream"
        print(f"run {run.id}; reading {url}\n")
        received = 0
        async with aiohttp.ClientSession(headers={"authorization": f"Bearer {token}"}) as http:
            async with http.get(url) as resp:  # NDJSON: one chunk per line
                async for line in resp.content:
                    print(json.loads(line)["token"], end=" ", flush=True)
                    received += 1
                    if received == 12:
                        break  # the connection drops mid-stream
            print(f"\n\n-- disconnected after {received} tokens; resuming from index {received} --\n")
            async with http.get(url, params={"start": str(received)}) as resp:
                async for line in resp.content:
                    print(json.loads(line)["token"], end=" ", flush=True)
            print("\n")
            # The other stream, as Server-Sent Events (what a browser's EventSource reads).
            async with http.get(url, params={"namespace": "progress"}, headers={"accept": "text/event-stream"}) as resp:
                events = (await resp.text()).strip().split("\n\n")
            print("progress stream (SSE):", " | ".join(e.replace("\n", " ") for e in events))
        print(f"\nresult: {await run.result()}")
    finally:
        await server.close()
        rt = current_runtime()
        if rt is not None:
            await rt.stop()


if __name__ == "__main__":
    asyncio.run(demo())
