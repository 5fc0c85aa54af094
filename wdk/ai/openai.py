"""The OpenAI-compatible chat-completions API, streamed (no vendor SDK).

    model = OpenAIChat("gpt-4o-mini")                      # OPENAI_API_KEY, api.openai.com
    model = OpenAIChat("llama3", base_url="http://127.0.0.1:11434/v1")

`base_url=None` takes `OPENAI_BASE_URL` (else api.openai.com) when the step
runs. Messages are already in this API's shape; a tool call's arguments
arrive as string pieces spread over many deltas and are joined here.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from wdk.ai.http import api_key, post_events
from wdk.settings import secret_from_env

__all__ = ["OpenAIChat"]

DEFAULT_BASE_URL = "https://api.openai.com/v1"

Emit = Callable[[dict[str, Any]], Awaitable[None]]


@dataclass(frozen=True)
class OpenAIChat:
    """A model behind an OpenAI-compatible `/chat/completions` endpoint.
    Only these fields are stored with each model step: never the key."""

    model: str
    base_url: str | None = None
    api_key_env: str = "OPENAI_API_KEY"
    temperature: float | None = None
    max_tokens: int | None = None

    def _url(self) -> str:
        base = self.base_url or secret_from_env("OPENAI_BASE_URL") or DEFAULT_BASE_URL
        return base.rstrip("/") + "/chat/completions"

    async def complete(
        self,
        messages: list[dict[str, Any]],
        tools: list[dict[str, Any]],
        system: str | None,
        emit: Emit,
    ) -> dict[str, Any]:
        """One streamed completion: text deltas go to `emit` as they come;
        returns {"message", "finish_reason", "usage"}."""
        url = self._url()
        key = api_key(self.api_key_env, required=url.startswith(DEFAULT_BASE_URL))
        headers = {"accept": "text/event-stream"}
        if key:
            headers["authorization"] = f"Bearer {key}"
        body: dict[str, Any] = {
            "model": self.model,
            "messages": ([{"role": "system", "content": system}] if system else []) + messages,
            "stream": True,
        }
        if tools:
            body["tools"] = [{"type": "function", "function": t} for t in tools]
        if self.temperature is not None:
            body["temperature"] = self.temperature
        if self.max_tokens is not None:
            body["max_tokens"] = self.max_tokens
        text: list[str] = []
        calls: dict[int, dict[str, Any]] = {}
        finish: str | None = None
        usage: dict[str, Any] | None = None
        async for event in post_events(url, headers, body):
            if not isinstance(event, dict):
                continue
            if isinstance(event.get("usage"), dict):
                usage = event["usage"]
            for choice in event.get("choices") or ():
                delta = choice.get("delta") or {}
                if delta.get("content"):
                    text.append(delta["content"])
                    await emit({"type": "text-delta", "delta": delta["content"]})
                for piece in delta.get("tool_calls") or ():
                    _merge_call(calls, piece)
                finish = choice.get("finish_reason") or finish
        message: dict[str, Any] = {"role": "assistant", "content": "".join(text) or None}
        if calls:
            message["tool_calls"] = [calls[i] for i in sorted(calls)]
        return {"message": message, "finish_reason": finish or "stop", "usage": usage}


def _merge_call(calls: dict[int, dict[str, Any]], piece: dict[str, Any]) -> None:
    """Join one delta of a tool call into the call at its index."""
    index = int(piece.get("index", len(calls)))
    call = calls.setdefault(
        index, {"id": "", "type": "function", "function": {"name": "", "arguments": ""}}
    )
    if piece.get("id"):
        call["id"] = piece["id"]
    fn = piece.get("function") or {}
    if fn.get("name"):
        call["function"]["name"] += fn["name"]
    if fn.get("arguments"):
        call["function"]["arguments"] += fn["arguments"]
    if not call["id"]:
        call["id"] = f"call_{index}"
