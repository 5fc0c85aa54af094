"""The agent's own steps. The agent loop is workflow code; these are the
parts of it that do I/O, so each call is a durable step: recorded once,
retried on failure, never repeated after it finished.

They live in wdk (never compiled: the sandbox gives workflow code the real
`wdk` package), so the agent calls them by id through
`wdk.runtime.compiled.step_call`, as compiled user code calls its steps.
"""

from __future__ import annotations

from typing import Any

from wdk.runtime.step_policy import step_options
from wdk.runtime.streams import Writable

__all__ = ["call_model", "emit", "tool_args"]


@step_options(max_retries=5, retry_delay="1s")
async def call_model(
    model: Any,
    messages: list[dict[str, Any]],
    tools: list[dict[str, Any]],
    system: str | None,
    writable: Writable | None,
    step: int,
) -> dict[str, Any]:
    "use step"
    # The API key is read in here (from the environment), never passed in:
    # a step's arguments are stored in the run's log.

    async def write(chunk: dict[str, Any]) -> None:
        if writable is not None:
            await writable.write({**chunk, "step": step})

    turn: dict[str, Any] = await model.complete(messages, tools, system, write)
    for call in turn["message"].get("tool_calls") or ():
        fn = call["function"]
        await write({"type": "tool-call", "id": call["id"], "tool": fn["name"], "args": tool_args(fn["arguments"])})
    return turn


@step_options(max_retries=5)
async def emit(writable: Writable, chunks: list[dict[str, Any]]) -> None:
    "use step"
    for chunk in chunks:
        await writable.write(chunk)


def tool_args(arguments: str) -> Any:
    """A tool call's arguments for the UI: the object, or the text as it came."""
    import json

    try:
        return json.loads(arguments or "{}")
    except ValueError:
        return arguments
