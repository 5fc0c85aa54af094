"""Workflows and tools for the agent tests. Each tool that runs appends a
line to the ledger file named by AI_LEDGER, so a test can count executions
across processes."""

from __future__ import annotations

import json
import os
from typing import Any, Literal

from wdk import FatalError, get_writable, sleep
from wdk.ai import AnthropicMessages, DurableAgent, OpenAIChat, tool

KEY_ENV = "FAKE_AI_KEY"


def _record(name: str, **args: Any) -> None:
    with open(os.environ["AI_LEDGER"], "a") as f:
        f.write(json.dumps({"tool": name, **args}) + "\n")


async def get_weather(city: str, unit: Literal["C", "F"] = "C") -> str:
    "use step"
    """The weather in a city."""
    _record("get_weather", city=city)
    return f"sunny, 21 {unit} in {city}"


async def get_time(zone: str) -> str:
    "use step"
    """The time of day in a time zone."""
    _record("get_time", zone=zone)
    return f"12:00 in {zone}"


async def burn_disk(x: int) -> str:
    "use step"
    _record("burn_disk", x=x)
    raise FatalError("the disk is on fire")


async def delete_file(path: str) -> str:
    "use step"
    """Delete a file (asks a human first)."""
    _record("delete_file", path=path)
    return f"deleted {path}"


def model(api: str, base_url: str) -> Any:
    if api == "openai":
        return OpenAIChat("fake-gpt", base_url=base_url, api_key_env=KEY_ENV)
    return AnthropicMessages("fake-claude", base_url=base_url, api_key_env=KEY_ENV)


async def chat(api: str, base_url: str, messages: list[dict[str, Any]], max_steps: int = 20) -> dict[str, Any]:
    "use workflow"
    agent = DurableAgent(
        model(api, base_url),
        tools=[get_weather, get_time, burn_disk, tool(delete_file, needs_approval=True)],
        system="Be brief.",
        max_steps=max_steps,
    )
    result = await agent.stream(messages, writable=get_writable())
    return {
        "text": result.text,
        "reason": result.finish_reason,
        "steps": len(result.steps),
        "messages": result.messages,
    }


async def nap(seconds: int) -> str:
    """Rest a while: a plain workflow function, so its sleep is a durable wait."""
    await sleep(seconds)
    return f"rested {seconds}s"


async def chat_until(api: str, base_url: str, messages: list[dict[str, Any]], stop_after: int) -> dict[str, Any]:
    "use workflow"
    finished: list[int] = []
    agent = DurableAgent(
        model(api, base_url),
        tools=[get_time, nap],
        stop_when=lambda steps: len(steps) >= stop_after,
        on_step_finish=lambda step: finished.append(step.number),
    )
    result = await agent.stream(messages, writable=get_writable())
    return {
        "reason": result.finish_reason,
        "finished": finished,
        "results": [o.result for step in result.steps for o in step.tool_results],
    }
