"""Mistakes mypy --strict must catch in wdk.ai usage (tests/test_typing.py)."""

from __future__ import annotations

from wdk.ai import AgentResult, DurableAgent, OpenAIChat, tool


async def get_weather(city: str) -> str:
    "use step"
    return city


agent = DurableAgent(OpenAIChat("gpt-4o-mini"), tools=[get_weather], max_steps="5")  # E: [arg-type] Argument "max_steps" to "DurableAgent" has incompatible type "str"
gated = tool(get_weather, needs_approval="yes")  # E: [arg-type] Argument "needs_approval" to "tool" has incompatible type "str"


async def flow() -> int:
    "use workflow"
    result: AgentResult = await agent.stream("hello")  # E: [arg-type] Argument 1 to "stream" of "DurableAgent" has incompatible type "str"
    n: int = result.text  # E: [assignment] Incompatible types in assignment
    return n
