"""The agent the bench/agent.py figures come from: one step tool, one workflow."""

from __future__ import annotations

from typing import Any

from wdk import get_writable
from wdk.ai import DurableAgent, OpenAIChat


async def lookup(key: str) -> str:
    "use step"
    """Look a key up."""
    return f"value of {key}"


async def ask(base_url: str, messages: list[dict[str, Any]]) -> str:
    "use workflow"
    agent = DurableAgent(OpenAIChat("fake", base_url=base_url), tools=[lookup])
    result = await agent.stream(messages, writable=get_writable())
    return result.text
