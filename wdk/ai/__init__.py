"""wdk.ai: a durable AI agent. Model calls and tool calls are steps; the loop
is the workflow; the stream is what a chat UI reads (docs/ai.md).

    from wdk import get_writable
    from wdk.ai import DurableAgent, OpenAIChat, tool

    async def get_weather(city: str) -> str:
        "use step"
        '''The weather in a city.'''
        return f"sunny in {city}"

    agent = DurableAgent(OpenAIChat("gpt-4o-mini"), tools=[get_weather])

    async def chat(messages: list[dict]) -> str:
        "use workflow"
        result = await agent.stream(messages, writable=get_writable())
        return result.text
"""

from wdk.ai.agent import AgentResult, AgentStep, DurableAgent
from wdk.ai.anthropic import AnthropicMessages
from wdk.ai.openai import OpenAIChat
from wdk.ai.tools import Tool, tool

__all__ = [
    "AgentResult",
    "AgentStep",
    "AnthropicMessages",
    "DurableAgent",
    "OpenAIChat",
    "Tool",
    "tool",
]
