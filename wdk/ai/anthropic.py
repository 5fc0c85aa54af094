"""The Anthropic messages API, streamed (no vendor SDK).

    model = AnthropicMessages("claude-sonnet-4-5")        # ANTHROPIC_API_KEY

The agent speaks the chat-completions shape; this client turns it into
content blocks (assistant `tool_use`, user `tool_result`) on the way out, and
the streamed blocks (`text_delta`, `input_json_delta`) back into an assistant
message with `tool_calls` on the way in.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from wdk.ai.http import api_key, post_events
from wdk.errors import RetryableError

__all__ = ["AnthropicMessages"]

DEFAULT_BASE_URL = "https://api.anthropic.com"
API_VERSION = "2023-06-01"
_FINISH = {"end_turn": "stop", "tool_use": "tool_calls", "max_tokens": "length", "stop_sequence": "stop"}

Emit = Callable[[dict[str, Any]], Awaitable[None]]


@dataclass(frozen=True)
class AnthropicMessages:
    """A model behind the Anthropic `/v1/messages` endpoint. Only these
    fields are stored with each model step: never the key."""

    model: str
    base_url: str | None = None
    api_key_env: str = "ANTHROPIC_API_KEY"
    max_tokens: int = 4096
    temperature: float | None = None

    async def complete(
        self,
        messages: list[dict[str, Any]],
        tools: list[dict[str, Any]],
        system: str | None,
        emit: Emit,
    ) -> dict[str, Any]:
        """One streamed reply: text deltas go to `emit` as they come;
        returns {"message", "finish_reason", "usage"} in the chat shape."""
        base = (self.base_url or DEFAULT_BASE_URL).rstrip("/")
        key = api_key(self.api_key_env, required=self.base_url is None)
        headers = {"accept": "text/event-stream", "anthropic-version": API_VERSION}
        if key:
            headers["x-api-key"] = key
        systems, converted = to_anthropic(messages)
        body: dict[str, Any] = {
            "model": self.model,
            "max_tokens": self.max_tokens,
            "messages": converted,
            "stream": True,
        }
        prompt = "\n\n".join(s for s in ([system] if system else []) + systems if s)
        if prompt:
            body["system"] = prompt
        if tools:
            body["tools"] = [
                {"name": t["name"], "description": t["description"], "input_schema": t["parameters"]}
                for t in tools
            ]
        if self.temperature is not None:
            body["temperature"] = self.temperature
        blocks: dict[int, dict[str, Any]] = {}
        finish = "stop"
        usage: dict[str, Any] = {}
        async for event in post_events(base + "/v1/messages", headers, body):
            kind = event.get("type") if isinstance(event, dict) else None
            if kind == "content_block_start":
                block = dict(event.get("content_block") or {})
                block["json"] = ""
                blocks[int(event.get("index", len(blocks)))] = block
            elif kind == "content_block_delta":
                block = blocks.setdefault(int(event.get("index", 0)), {"type": "text", "text": "", "json": ""})
                delta = event.get("delta") or {}
                if delta.get("type") == "text_delta" and delta.get("text"):
                    block["text"] = block.get("text", "") + delta["text"]
                    await emit({"type": "text-delta", "delta": delta["text"]})
                elif delta.get("type") == "input_json_delta":
                    block["json"] += delta.get("partial_json", "")
            elif kind == "message_start":
                usage.update((event.get("message") or {}).get("usage") or {})
            elif kind == "message_delta":
                reason = str((event.get("delta") or {}).get("stop_reason") or "")
                finish = _FINISH.get(reason, reason or finish)
                usage.update(event.get("usage") or {})
            elif kind == "error":
                # Sent mid-stream (e.g. overloaded_error): another attempt may go through.
                raise RetryableError(f"the model stream failed: {event.get('error')}")
        return {"message": _assistant(blocks), "finish_reason": finish, "usage": usage or None}


def _assistant(blocks: dict[int, dict[str, Any]]) -> dict[str, Any]:
    text = "".join(b.get("text", "") for _, b in sorted(blocks.items()) if b.get("type") == "text")
    calls = [
        {
            "id": b.get("id", f"toolu_{i}"),
            "type": "function",
            "function": {"name": b.get("name", ""), "arguments": b["json"] or json.dumps(b.get("input") or {})},
        }
        for i, b in sorted(blocks.items())
        if b.get("type") == "tool_use"
    ]
    message: dict[str, Any] = {"role": "assistant", "content": text or None}
    if calls:
        message["tool_calls"] = calls
    return message


def to_anthropic(messages: list[dict[str, Any]]) -> tuple[list[str], list[dict[str, Any]]]:
    """(system texts, messages as content blocks) from chat-shape messages."""
    systems: list[str] = []
    out: list[dict[str, Any]] = []
    for m in messages:
        role = m.get("role")
        if role == "system":
            systems.append(str(m.get("content") or ""))
        elif role == "tool":
            block = {"type": "tool_result", "tool_use_id": m.get("tool_call_id", ""), "content": str(m.get("content") or "")}
            if out and out[-1]["role"] == "user" and _is_tool_results(out[-1]):
                out[-1]["content"].append(block)  # one user turn answers every call
            else:
                out.append({"role": "user", "content": [block]})
        elif role == "assistant":
            content: list[dict[str, Any]] = []
            if m.get("content"):
                content.append({"type": "text", "text": str(m["content"])})
            for call in m.get("tool_calls") or ():
                fn = call.get("function") or {}
                content.append({"type": "tool_use", "id": call.get("id", ""), "name": fn.get("name", ""), "input": _loads(fn.get("arguments"))})
            out.append({"role": "assistant", "content": content or [{"type": "text", "text": ""}]})
        else:
            out.append({"role": "user", "content": m.get("content") or ""})
    return systems, out


def _is_tool_results(message: dict[str, Any]) -> bool:
    content = message.get("content")
    return isinstance(content, list) and all(b.get("type") == "tool_result" for b in content)


def _loads(arguments: Any) -> Any:
    """A tool call's input as an object (malformed JSON, sent back as an error
    in the tool result, still needs a valid `input` here)."""
    if isinstance(arguments, dict):
        return arguments
    try:
        value = json.loads(arguments or "{}")
    except (TypeError, ValueError):
        return {}
    return value if isinstance(value, dict) else {}
