"""The chat agent: its tools and its workflow. A module of its own, without
the web app: the workflow sandbox loads this module (docs/sandbox.md).

Three tools: a step (`get_weather`), a plain workflow function that sleeps
durably (`remind_me_later`: a server restart does not lose the reminder),
and a step a human must approve first (`delete_file`).
"""

from __future__ import annotations

from typing import Any

from wdk import get_writable, sleep
from wdk.ai import AnthropicMessages, DurableAgent, OpenAIChat, tool

SYSTEM = (
    "You are a helpful assistant in a demo of durable agents. Use the tools: "
    "get_weather for weather questions, remind_me_later when asked to remind "
    "the user of something, delete_file when asked to delete a file. Be brief."
)


async def get_weather(city: str) -> str:
    "use step"
    """The current weather in a city."""
    kinds = ["sunny", "cloudy", "rainy", "windy", "snowing"]
    seed = sum(map(ord, city.lower()))
    return f"{kinds[seed % len(kinds)]}, {seed % 30} °C in {city}"


async def remind_me_later(note: str, seconds: int = 10) -> str:
    """Remind the user of `note` after `seconds`. It waits durably, in the workflow."""
    await sleep(max(1, min(seconds, 24 * 3600)))
    return f"Reminder: {note}"


async def delete_file(path: str) -> str:
    "use step"
    """Delete a file. A human approves it first."""
    return f"Deleted {path} (a demo: nothing was deleted)."


async def chat(messages: list[dict[str, Any]], model: OpenAIChat | AnthropicMessages | None = None) -> dict[str, Any]:
    "use workflow"
    agent = DurableAgent(
        # OpenAIChat: base URL and key from OPENAI_BASE_URL / OPENAI_API_KEY, read in the model step.
        model or OpenAIChat("gpt-4o-mini"),
        tools=[get_weather, remind_me_later, tool(delete_file, needs_approval=True)],
        system=SYSTEM,
        max_steps=8,
    )
    result = await agent.stream(messages, writable=get_writable())
    return {"text": result.text, "messages": result.messages}
