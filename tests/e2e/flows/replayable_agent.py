"""The agent whose recorded history is tests/histories/agent_tool_calls.json.

A DurableAgent run replays from its log like any workflow: the model calls,
tool calls and stream writes it recorded must be the ones the current
`wdk.ai` code makes, in the same order, or runs in flight would stop
replaying. Re-record with `.venv/bin/python scripts/record_agent_history.py`
after an intended change (and say why in the commit).
"""

from __future__ import annotations

from wdk import get_writable
from wdk.ai import DurableAgent, OpenAIChat


async def lookup(key: str) -> str:
    "use step"
    """Look a key up."""
    return f"value of {key}"


async def agent_chat(base_url: str, question: str) -> str:
    "use workflow"
    agent = DurableAgent(OpenAIChat("fake", base_url=base_url), tools=[lookup], system="Be brief.")
    result = await agent.stream([{"role": "user", "content": question}], writable=get_writable())
    return result.text
