"""A fake model server for tests and keyless demos: the OpenAI-compatible
chat-completions API and the Anthropic messages API, streamed as the real
ones stream (SSE; text in small deltas; tool-call arguments split across
deltas / `input_json_delta` events), with scripted replies.

    server = FakeModelServer([Reply(tool_calls=[("get_weather", '{"city": "Oslo"}')]),
                              Reply(text="Sunny in Oslo.")])
    base_url = await server.start()              # http://127.0.0.1:<port>/v1
    model = OpenAIChat("fake", base_url=base_url)   # or AnthropicMessages("fake", base_url=server.url)
    ...
    server.requests                              # every request: turn, attempt, body, finished

A reply is chosen by the conversation's **turn** (the number of assistant
messages in the request), so a model call that is made again after a crash
gets the same reply; a list of replies for one turn is answered attempt by
attempt (the last one repeats): `[Reply(status=429, retry_after="1"), Reply(text="ok")]`.

    python -m wdk.ai.fake --port 8765            # an echoing model, for trying things out
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

__all__ = ["FakeModelServer", "Reply", "echo"]


@dataclass
class Reply:
    """One scripted answer. `tool_calls` are (name, arguments as sent: any
    text, so malformed JSON can be scripted). `hold`: wait for this event
    before answering; `pause_after`: send that many text deltas, then wait
    for `resume`; `fail_after`: send that many text deltas, then drop the
    connection (a server that dies mid-answer)."""

    text: str = ""
    tool_calls: Sequence[tuple[str, str]] = ()
    status: int = 200
    retry_after: str | None = None
    hold: asyncio.Event | None = None
    pause_after: int | None = None
    resume: asyncio.Event | None = None
    fail_after: int | None = None
    piece: int = 4  # characters per delta
    delay: float = 0.0  # seconds between deltas (0: as fast as it can)


Script = Sequence["Reply | Sequence[Reply]"] | Callable[[dict[str, Any]], Reply]


def echo(body: dict[str, Any]) -> Reply:
    """The default brain: answers with what the last user message said."""
    last: dict[str, Any] = next((m for m in reversed(body.get("messages", [])) if m.get("role") == "user"), {})
    content = last.get("content")
    said = content if isinstance(content, str) else json.dumps(content)
    return Reply(text=f"You said: {said}", delay=0.02)


@dataclass
class Request:
    """What the server was asked (the log a test reads)."""

    api: str  # "openai" | "anthropic"
    turn: int
    attempt: int
    body: dict[str, Any]
    headers: dict[str, str]
    at: float = field(default_factory=time.time)
    finished: bool = False


class FakeModelServer:
    """An aiohttp server on 127.0.0.1 (a free port) answering from a script."""

    def __init__(self, script: Script = echo, host: str = "127.0.0.1", port: int = 0) -> None:
        self.script = script
        self.host = host
        self.port = port
        self.requests: list[Request] = []
        self._runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        """The server's root (AnthropicMessages' base_url)."""
        return f"http://{self.host}:{self.port}"

    @property
    def base_url(self) -> str:
        """The OpenAI-style base URL (OpenAIChat's base_url)."""
        return self.url + "/v1"

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/v1/chat/completions", self._openai)
        app.router.add_post("/chat/completions", self._openai)
        app.router.add_post("/v1/messages", self._anthropic)
        return app

    async def start(self) -> str:
        # A client that goes away (a killed worker) cancels its handler, and
        # closing does not wait for held replies.
        self._runner = web.AppRunner(self.app(), handler_cancellation=True, shutdown_timeout=1.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        self.port = int(self._runner.addresses[0][1])  # the free port port=0 got
        return self.base_url

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    def finished(self, turn: int | None = None) -> list[Request]:
        """The requests answered to the end (for one turn, or all)."""
        return [r for r in self.requests if r.finished and (turn is None or r.turn == turn)]

    # --- answering ---------------------------------------------------------------

    def _reply(self, api: str, request: web.Request, body: dict[str, Any]) -> tuple[Request, Reply]:
        turn = sum(1 for m in body.get("messages", []) if m.get("role") == "assistant")
        attempt = sum(1 for r in self.requests if r.turn == turn)
        logged = Request(api, turn, attempt, body, dict(request.headers))
        self.requests.append(logged)
        if callable(self.script):
            return logged, self.script(body)
        if turn >= len(self.script):
            return logged, Reply(text=f"(the script has no reply for turn {turn})")
        entry = self.script[turn]
        if isinstance(entry, Reply):
            return logged, entry
        return logged, entry[min(attempt, len(entry) - 1)]

    async def _begin(self, request: web.Request, reply: Reply) -> web.StreamResponse:
        """The prepared event stream, or (not prepared) the scripted error."""
        if reply.hold is not None:
            await reply.hold.wait()
        if reply.status != 200:
            headers = {"retry-after": reply.retry_after} if reply.retry_after else {}
            return web.json_response({"error": {"message": "scripted"}}, status=reply.status, headers=headers)
        response = web.StreamResponse(headers={"content-type": "text/event-stream", "cache-control": "no-cache"})
        await response.prepare(request)
        return response

    async def _openai(self, request: web.Request) -> web.StreamResponse:
        body = await request.json()
        logged, reply = self._reply("openai", request, body)
        response = await self._begin(request, reply)
        if not response.prepared:
            logged.finished = True
            return response

        async def send(data: dict[str, Any]) -> None:
            await response.write(f"data: {json.dumps(data)}\n\n".encode())

        def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
            return {"id": f"chatcmpl-{logged.turn}", "object": "chat.completion.chunk",
                    "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}

        await send(chunk({"role": "assistant"}))
        for i, piece in enumerate(_pieces(reply.text, reply.piece)):
            await self._pace(reply, i)
            await send(chunk({"content": piece}))
        for index, (name, args) in enumerate(reply.tool_calls):
            head = {"index": index, "id": f"call_{logged.turn}_{index}", "type": "function",
                    "function": {"name": name, "arguments": ""}}
            await send(chunk({"tool_calls": [head]}))
            for piece in _pieces(args, reply.piece):
                await self._pace(reply, None)
                await send(chunk({"tool_calls": [{"index": index, "function": {"arguments": piece}}]}))
        await send(chunk({}, "tool_calls" if reply.tool_calls else "stop"))
        await response.write(b"data: [DONE]\n\n")
        await response.write_eof()
        logged.finished = True
        return response

    async def _anthropic(self, request: web.Request) -> web.StreamResponse:
        body = await request.json()
        logged, reply = self._reply("anthropic", request, body)
        response = await self._begin(request, reply)
        if not response.prepared:
            logged.finished = True
            return response

        async def send(data: dict[str, Any]) -> None:
            await response.write(f"event: {data['type']}\ndata: {json.dumps(data)}\n\n".encode())

        await send({"type": "message_start", "message": {"id": f"msg_{logged.turn}", "role": "assistant",
                                                          "content": [], "usage": {"input_tokens": 10}}})
        block = 0
        if reply.text:
            await send({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}})
            for i, piece in enumerate(_pieces(reply.text, reply.piece)):
                await self._pace(reply, i)
                await send({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": piece}})
            await send({"type": "content_block_stop", "index": 0})
            block = 1
        for i, (name, args) in enumerate(reply.tool_calls):
            index = block + i
            await send({"type": "content_block_start", "index": index, "content_block":
                        {"type": "tool_use", "id": f"toolu_{logged.turn}_{i}", "name": name, "input": {}}})
            for piece in _pieces(args, reply.piece):
                await self._pace(reply, None)
                await send({"type": "content_block_delta", "index": index,
                            "delta": {"type": "input_json_delta", "partial_json": piece}})
            await send({"type": "content_block_stop", "index": index})
        stop = "tool_use" if reply.tool_calls else "end_turn"
        await send({"type": "message_delta", "delta": {"stop_reason": stop}, "usage": {"output_tokens": 5}})
        await send({"type": "message_stop"})
        await response.write_eof()
        logged.finished = True
        return response

    async def _pace(self, reply: Reply, text_index: int | None) -> None:
        if text_index is not None and text_index == reply.fail_after:
            raise ConnectionResetError("scripted: the server drops the connection mid-answer")
        if text_index is not None and reply.pause_after is not None and text_index == reply.pause_after:
            assert reply.resume is not None, "pause_after needs a resume event"
            await reply.resume.wait()
        if reply.delay:
            await asyncio.sleep(reply.delay)


def _pieces(text: str, size: int) -> list[str]:
    size = max(1, size)
    return [text[i : i + size] for i in range(0, len(text), size)]


def main() -> None:
    parser = argparse.ArgumentParser(description="A fake streaming model server (it echoes)")
    parser.add_argument("--port", type=int, default=8765)
    args = parser.parse_args()

    async def serve() -> None:
        server = FakeModelServer(port=args.port)
        print(f"OpenAI-compatible: {await server.start()}   Anthropic: {server.url}", flush=True)
        await asyncio.Event().wait()

    asyncio.run(serve())


if __name__ == "__main__":
    main()
