"""Checked with `mypy --strict` (tests/test_typing.py): wdk.ai as users type it."""

from __future__ import annotations

from typing import Any, assert_type

from wdk import get_writable
from wdk.ai import AgentResult, AgentStep, AnthropicMessages, DurableAgent, OpenAIChat, Tool, tool


async def get_weather(city: str) -> str:
    "use step"
    """The weather in a city."""
    return f"sunny in {city}"


async def delete_file(path: str) -> str:
    "use step"
    return f"deleted {path}"


def enough(steps: list[AgentStep]) -> bool:
    return len(steps) >= 3


gated = tool(delete_file, needs_approval=True, description="Delete a file.")
assert_type(gated, Tool)

agent = DurableAgent(
    OpenAIChat("gpt-4o-mini", base_url="http://127.0.0.1:11434/v1"),
    tools=[get_weather, gated],
    system="Be brief.",
    max_steps=5,
    stop_when=enough,
    on_step_finish=lambda step: print(step.number, step.finish_reason),
)
claude = DurableAgent(AnthropicMessages("claude-sonnet-4-5", api_key_env="MY_KEY"))


async def chat(messages: list[dict[str, Any]]) -> str:
    "use workflow"
    result = await agent.stream(messages, writable=get_writable())
    assert_type(result, AgentResult)
    assert_type(result.messages, list[dict[str, Any]])
    assert_type(result.steps, list[AgentStep])
    text: str = result.text
    return text
