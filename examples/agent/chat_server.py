"""The chat app: FastAPI serving a single-page UI, each message a durable agent run.

    python examples/agent/chat_server.py --port 8000      # then open http://127.0.0.1:8000

With OPENAI_BASE_URL (and OPENAI_API_KEY if the server needs one) it talks
to that OpenAI-compatible server (OPENAI_MODEL picks the model); with only
ANTHROPIC_API_KEY, to Anthropic (ANTHROPIC_MODEL); with none of them, it
starts the keyless demo model (demo_model.py) beside itself.
The runs live in WDK_DATA_DIR (default .wdk): stop the server mid-answer,
start it again, and the page picks the answer up where it was.

Routes: GET / (the page), POST /api/chat {"messages"} -> {"run_id"},
GET /api/runs/{id} -> {"status", "messages"}, POST /api/approvals/{token}
{"approved"}; the answer streams from wdk's
/.well-known/workflow/v1/runs/{id}/stream (SSE, resumable from an index).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import socket
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))  # chatbot, demo_model

from chatbot import chat
from demo_model import demo_brain
from fastapi import FastAPI
from fastapi.responses import HTMLResponse
from pydantic import BaseModel

import wdk.plugins.starlette
from wdk.ai import AnthropicMessages, OpenAIChat
from wdk.ai.fake import FakeModelServer
from wdk.api import get_run, resume_hook, start

PAGE = Path(__file__).resolve().parent / "static" / "index.html"


class ChatRequest(BaseModel):
    messages: list[dict[str, Any]]


class Decision(BaseModel):
    approved: bool


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _model() -> OpenAIChat | AnthropicMessages:
    """The model object each run stores: names and URLs, never a key."""
    if os.environ.get("ANTHROPIC_API_KEY") and not (os.environ.get("OPENAI_BASE_URL") or os.environ.get("OPENAI_API_KEY")):
        return AnthropicMessages(os.environ.get("ANTHROPIC_MODEL", "claude-sonnet-4-5"))
    return OpenAIChat(os.environ.get("OPENAI_MODEL", "gpt-4o-mini"))


def create_app() -> FastAPI:
    demo: FakeModelServer | None = None
    if not any(os.environ.get(v) for v in ("OPENAI_BASE_URL", "OPENAI_API_KEY", "ANTHROPIC_API_KEY")):
        # Keyless: the demo model beside the app. Model steps read
        # OPENAI_BASE_URL when they run, so a run resumed after a restart finds
        # this process's demo model. Set before the runtime starts (it may
        # resume a run at once); a call before the model listens is retried.
        demo = FakeModelServer(demo_brain, port=_free_port())
        os.environ["OPENAI_BASE_URL"] = demo.base_url

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if demo is not None:
            await demo.start()
            print(f"no OPENAI_BASE_URL: using the keyless demo model at {demo.base_url}", flush=True)
        try:
            yield
        finally:
            if demo is not None:
                await demo.close()

    app = FastAPI(lifespan=lifespan)
    wdk.plugins.starlette.setup(app)  # the runtime runs with the app; the stream route
    model = _model()

    @app.get("/", response_class=HTMLResponse)
    async def page() -> str:
        return PAGE.read_text(encoding="utf-8")

    @app.post("/api/chat")
    async def send(body: ChatRequest) -> dict[str, str]:
        run = await start(chat, body.messages, model)
        return {"run_id": run.id}

    @app.get("/api/runs/{run_id}")
    async def run_state(run_id: str) -> dict[str, Any]:
        run = get_run(run_id)
        status = await run.status()
        out: dict[str, Any] = {"status": status, "messages": []}
        if status == "completed":
            out["messages"] = (await run.result())["messages"]
        return out

    @app.post("/api/approvals/{token}")
    async def decide(token: str, body: Decision) -> dict[str, bool]:
        await resume_hook(token, {"approved": body.approved})
        return {"ok": True}

    return app


def main() -> None:
    import uvicorn

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    args = parser.parse_args()
    # Approval requests carry a URL too (a webhook): make it point at this app.
    os.environ.setdefault("WDK_BASE_URL", f"http://{args.host}:{args.port}")
    uvicorn.run(create_app(), host=args.host, port=args.port, log_level="warning")


if __name__ == "__main__":
    main()
