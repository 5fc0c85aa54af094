"""The durable agent: the loop of model calls and tool calls, as workflow code.

    agent = DurableAgent(OpenAIChat("gpt-4o-mini"), tools=[get_weather], system="Be brief.")

    async def chat(messages: list[dict]) -> str:
        "use workflow"
        result = await agent.stream(messages, writable=get_writable())
        return result.text

Why it survives a crash: the loop runs in the workflow, and everything in it
that does I/O is a step -- each model call (`steps.call_model`), each tool
call (the tool is a `"use step"` function), each write to the stream of
what the workflow itself learnt (a tool's result, an approval request, a
step's end: `steps.emit`). On replay, finished steps return their recorded
results, so no finished model or tool call runs again; the model call that
was in flight runs again, and the chunks its dead attempt wrote are rolled
back (readers get a rollback marker, never the text twice).

Tool calls the model asks for together run together (`asyncio.gather`).
A tool that fails, an unknown tool, or arguments that are not valid JSON or
do not fit the parameters become a tool result saying so: the model sees the
error and may try again. After `MAX_FAILED_TOOL_STEPS` steps in a row whose
every tool call failed the agent stops (finish reason "tool-errors").
"""

from __future__ import annotations

import asyncio
import inspect
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import msgspec

from wdk.ai import steps as agent_steps
from wdk.ai.tools import Tool, as_tool
from wdk.errors import NonDeterminismError, WorkflowSandboxError
from wdk.runtime import compiled
from wdk.runtime.current import in_workflow
from wdk.runtime.streams import Writable
from wdk.runtime.webhooks import WebhookRequest, create_webhook

__all__ = ["MAX_FAILED_TOOL_STEPS", "AgentResult", "AgentStep", "DurableAgent"]

MAX_FAILED_TOOL_STEPS = 3
DENIED = "The user denied this tool call, so it did not run."
# Errors that are wdk's verdict on the workflow code itself: never fed to the model.
_NOT_TOOL_ERRORS = (WorkflowSandboxError, NonDeterminismError)


@dataclass(frozen=True)
class ToolOutcome:
    """One tool call's result, as the model and the stream get it."""

    id: str
    tool: str
    args: Any
    result: str
    error: bool = False
    denied: bool = False


@dataclass(frozen=True)
class AgentStep:
    """One model call and the tool calls it asked for."""

    number: int
    text: str
    tool_calls: list[dict[str, Any]]
    tool_results: list[ToolOutcome]
    finish_reason: str
    usage: dict[str, Any] | None = None


@dataclass(frozen=True)
class AgentResult:
    """What `DurableAgent.stream` returns: the messages it added (assistant
    and tool messages, in the chat-completions shape), the final text, the
    steps taken and why it stopped ("stop", "max-steps", "stop-when",
    "tool-errors")."""

    messages: list[dict[str, Any]]
    text: str
    steps: list[AgentStep] = field(default_factory=list)
    finish_reason: str = "stop"


class DurableAgent:
    """A model, its tools and a system prompt; `stream()` runs the loop."""

    def __init__(
        self,
        model: Any,
        tools: Sequence[Callable[..., Any] | Tool] = (),
        system: str | None = None,
        max_steps: int = 20,
        stop_when: Callable[[list[AgentStep]], Any] | None = None,
        on_step_finish: Callable[[AgentStep], Any] | None = None,
    ) -> None:
        if max_steps < 1:
            raise ValueError(f"max_steps must be at least 1, not {max_steps}")
        self.model = model
        self.tools = [as_tool(t) for t in tools]
        names = [t.name for t in self.tools]
        if len(set(names)) != len(names):
            raise ValueError(f"two tools share a name: {sorted(n for n in names if names.count(n) > 1)}")
        self.system = system
        self.max_steps = max_steps
        self.stop_when = stop_when
        self.on_step_finish = on_step_finish

    def __repr__(self) -> str:
        return f"DurableAgent({self.model!r}, tools={[t.name for t in self.tools]})"

    async def stream(self, messages: Sequence[dict[str, Any]], writable: Writable | None = None) -> AgentResult:
        """Run the loop from `messages` until the model answers without tool
        calls (or a stop condition); every chunk goes to `writable`."""
        history = list(messages)
        added: list[dict[str, Any]] = []
        taken: list[AgentStep] = []
        specs = [t.spec() for t in self.tools]
        failed_in_a_row = 0
        reason = "max-steps"
        for number in range(self.max_steps):
            try:
                turn = await _call(agent_steps.call_model, self.model, history, specs, self.system, writable, number)
            except _NOT_TOOL_ERRORS:
                raise
            except Exception as exc:
                if writable is not None:
                    await _call(agent_steps.emit, writable, [{"type": "error", "step": number, "message": str(exc)}])
                raise
            message = turn["message"]
            calls = list(message.get("tool_calls") or ())
            outcomes = list(await asyncio.gather(*(self._run_call(c, writable, number) for c in calls)))
            new = [message, *(_tool_message(o) for o in outcomes)]
            history += new
            added += new
            step = _step(number, turn, calls, outcomes)
            taken.append(step)
            if self.on_step_finish is not None:
                await _maybe_await(self.on_step_finish(step))
            # A denial is the user's answer, not a failure.
            failed = bool(outcomes) and all(o.error and not o.denied for o in outcomes)
            failed_in_a_row = failed_in_a_row + 1 if failed else 0
            stop = await self._stop_reason(taken, failed_in_a_row)
            if writable is not None:
                chunks = [{"type": "step-finish", "step": number, "finish_reason": step.finish_reason, "usage": step.usage}]
                if stop is not None:
                    chunks.append({"type": "finish", "reason": stop, "text": step.text, "steps": len(taken)})
                await _call(agent_steps.emit, writable, chunks)
            if stop is not None:
                reason = stop
                break
        text = taken[-1].text if taken else ""
        return AgentResult(added, text, taken, reason)

    async def _stop_reason(self, taken: list[AgentStep], failed_in_a_row: int) -> str | None:
        """Why the loop stops after the step just taken; None: it goes on."""
        if not taken[-1].tool_calls:
            return "stop"
        if failed_in_a_row >= MAX_FAILED_TOOL_STEPS:
            return "tool-errors"
        if self.stop_when is not None and await _maybe_await(self.stop_when(list(taken))):
            return "stop-when"
        if len(taken) >= self.max_steps:
            return "max-steps"
        return None

    async def _run_call(self, call: dict[str, Any], writable: Writable | None, number: int) -> ToolOutcome:
        """Run one tool call and write its result to the stream as soon as it is
        known (a slow tool does not hold back the others' results)."""
        outcome = await self._outcome(call, writable, number)
        if writable is not None:
            await _call(agent_steps.emit, writable, [_result_chunk(outcome, number)])
        return outcome

    async def _outcome(self, call: dict[str, Any], writable: Writable | None, number: int) -> ToolOutcome:
        fn = call.get("function") or {}
        call_id, name, raw = str(call.get("id", "")), str(fn.get("name", "")), fn.get("arguments") or "{}"
        found = next((t for t in self.tools if t.name == name), None)
        if found is None:
            known = ", ".join(t.name for t in self.tools) or "none"
            return ToolOutcome(call_id, name, raw, f"Error: there is no tool named {name!r} (tools: {known}).", error=True)
        try:
            args = json.loads(raw)
        except ValueError as exc:
            return ToolOutcome(call_id, name, raw, f"Error: the arguments are not valid JSON ({exc}); send a JSON object.", error=True)
        try:
            if not isinstance(args, dict):
                raise msgspec.ValidationError(f"expected a JSON object, got {type(args).__name__}")
            kwargs = found.arguments(args)
        except msgspec.ValidationError as exc:
            return ToolOutcome(call_id, name, args, f"Error: invalid arguments for {name}: {exc}.", error=True)
        if found.needs_approval and not await self._approved(call_id, name, args, writable, number):
            return ToolOutcome(call_id, name, args, DENIED, error=True, denied=True)
        try:
            value = await found(kwargs)
        except _NOT_TOOL_ERRORS:
            raise
        except Exception as exc:
            return ToolOutcome(call_id, name, args, f"Error: {type(exc).__name__}: {exc}", error=True)
        return ToolOutcome(call_id, name, args, _as_text(value))

    async def _approved(self, call_id: str, name: str, args: Any, writable: Writable | None, number: int) -> bool:
        """Wait, durably, for `resume_hook(token, {"approved": bool})` or a
        POST of `{"approved": bool}` to the URL (the hook is a webhook)."""
        webhook = create_webhook()
        if writable is not None:
            request = {
                "type": "approval-request", "step": number, "id": call_id,
                "token": webhook.token, "url": webhook.url, "tool": name, "args": args,
            }
            await _call(agent_steps.emit, writable, [request])
        verdict: bool | None = None
        async for delivered in webhook:
            verdict = _verdict(delivered)
            if verdict is not None:
                break
        webhook.dispose()
        return verdict is True


def _verdict(delivered: Any) -> bool | None:
    """A payload from `resume_hook` decides: approved only if it is
    `{"approved": True}`. An HTTP request decides only when its body is a
    JSON object with a boolean "approved": a link unfurler's or crawler's
    GET is ignored, not taken for a denial."""
    if not isinstance(delivered, WebhookRequest):
        return isinstance(delivered, dict) and delivered.get("approved") is True
    try:
        body = delivered.json()
    except ValueError:
        return None
    approved = body.get("approved") if isinstance(body, dict) else None
    return approved if isinstance(approved, bool) else None


async def _call(fn: Callable[..., Any], *args: Any) -> Any:
    """Call one of the agent's steps: a durable step in a workflow (by its id,
    as compiled code does), a plain call anywhere else."""
    if in_workflow():
        return await compiled.step_call(f"step//{fn.__module__}//{fn.__qualname__}", args, {})
    return await fn(*args)


def _step(number: int, turn: dict[str, Any], calls: list[dict[str, Any]], outcomes: list[ToolOutcome]) -> AgentStep:
    requested = [
        {"id": c["id"], "tool": c["function"]["name"], "args": agent_steps.tool_args(c["function"]["arguments"])}
        for c in calls
    ]
    text = turn["message"].get("content") or ""
    return AgentStep(number, text, requested, outcomes, str(turn.get("finish_reason") or "stop"), turn.get("usage"))


async def _maybe_await(value: Any) -> Any:
    return await value if inspect.isawaitable(value) else value


def _tool_message(outcome: ToolOutcome) -> dict[str, Any]:
    return {"role": "tool", "tool_call_id": outcome.id, "content": outcome.result}


def _result_chunk(outcome: ToolOutcome, number: int) -> dict[str, Any]:
    chunk = {"type": "tool-result", "step": number, "id": outcome.id, "tool": outcome.tool, "result": outcome.result}
    if outcome.error:
        chunk["error"] = True
    if outcome.denied:
        chunk["denied"] = True
    return chunk


def _as_text(value: Any) -> str:
    if isinstance(value, str):
        return value
    try:
        return json.dumps(msgspec.to_builtins(value))
    except (TypeError, ValueError):
        return repr(value)
