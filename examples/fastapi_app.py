"""FastAPI with wdk: routes start workflows, a webhook resumes one, a stream is read.

    python examples/fastapi_app.py                       # drives the app with FastAPI's TestClient
    uvicorn --factory examples.fastapi_app:create_app    # or serve it (`pip install uvicorn`)

`wdk.plugins.starlette.setup(app)` runs wdk's runtime in the app's event loop
(started and stopped with the app) and mounts the webhook and run-stream
endpoints under /.well-known/workflow/v1/. Route handlers `await start(...)`.

The app is built in a `create_app()` factory so that importing this module
creates no app. The module has workflows, so wdk also loads it into the
workflow sandbox, where a module-level `app = FastAPI()` would load as a
restricted value (docs/sandbox.md, "Module-level code"): harmless, but
pointless. In a real project keep the workflows in their own module and
import them from the app's (docs/frameworks.md).
"""

from __future__ import annotations

import asyncio

from fastapi import FastAPI

import wdk.plugins.starlette
from wdk import create_webhook, get_writable
from wdk.api import get_run, start

OUTBOX: list[str] = []  # the "emails" sent by ask_for_approval


async def pack(order_id: str, items: list[str]) -> int:
    "use step"
    out = get_writable()  # progress, readable live at /.well-known/workflow/v1/runs/<id>/stream
    for item in items:
        await out.write({"packed": item})
        await asyncio.sleep(0.01)
    await out.close()
    return len(items)


async def ask_for_approval(order_id: str, url: str) -> None:
    "use step"
    OUTBOX.append(url)  # a real step would email the link


async def ship(order_id: str, items: list[str]) -> str:
    "use workflow"
    webhook = create_webhook()
    await ask_for_approval(order_id, webhook.url)
    decision = (await webhook).json()  # waits, durably, for someone to POST to the URL
    if not decision.get("approve"):
        return f"{order_id}: not approved"
    count = await pack(order_id, items)
    return f"{order_id}: shipped {count} items"


def create_app() -> FastAPI:
    app = FastAPI()
    wdk.plugins.starlette.setup(app)

    @app.post("/orders/{order_id}")
    async def place_order(order_id: str, items: list[str]) -> dict[str, str]:
        run = await start(ship, order_id, items)
        return {"run_id": run.id}

    @app.get("/orders/{run_id}")
    async def order_status(run_id: str) -> dict[str, object]:
        run = get_run(run_id)
        status = await run.status()
        return {"status": status, "result": await run.result() if status == "completed" else None}

    return app


def demo() -> None:
    import json
    import os
    import tempfile
    import time

    from fastapi.testclient import TestClient

    from wdk.api import configure

    configure(data_dir=tempfile.mkdtemp(prefix="wdk-fastapi-"))
    os.environ["WDK_BASE_URL"] = "http://testserver"  # webhook URLs point at this app
    with TestClient(create_app()) as client:  # `with`: the app's lifespan (and wdk's runtime) runs
        run_id = client.post("/orders/ord-7", json=["teapot", "cups"]).json()["run_id"]
        print(f"POST /orders/ord-7 -> run {run_id}")
        while not OUTBOX:
            time.sleep(0.01)
        print(f"the workflow asks for approval at {OUTBOX[0]}")
        reply = client.post(OUTBOX[0], json={"approve": True})
        print(f"POST to the webhook -> HTTP {reply.status_code}")
        lines = client.get(f"/.well-known/workflow/v1/runs/{run_id}/stream").text.splitlines()
        print("stream:", [json.loads(line) for line in lines])
        while (status := client.get(f"/orders/{run_id}").json())["status"] != "completed":
            time.sleep(0.05)
        print(f"result: {status['result']}")


if __name__ == "__main__":
    demo()
