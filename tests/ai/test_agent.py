"""DurableAgent against fake model servers of both APIs (wdk.ai.fake: SSE,
text in small deltas, tool-call arguments split across deltas / Anthropic
`input_json_delta` events): parallel tool calls over several turns, 429 with
Retry-After, approvals, a reader reconnecting mid-answer, tool errors fed
back, max_steps."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import agent_flows
import pytest
from ai_support import API_KEY, read_stream, text_of

from wdk import StreamRollback, WorkflowFailed
from wdk.ai import tool
from wdk.ai.agent import DENIED
from wdk.ai.fake import Reply
from wdk.api import get_hook, resume_hook, start

APIS = ("openai", "anthropic")
USER = [{"role": "user", "content": "Weather and time in Oslo?"}]


def tool_contents(body: dict[str, Any]) -> list[str]:
    """The tool results a request carried, in either API's shape."""
    found = []
    for m in body["messages"]:
        if m.get("role") == "tool":
            found.append(m["content"])
        elif m.get("role") == "user" and isinstance(m.get("content"), list):
            found += [b["content"] for b in m["content"] if b.get("type") == "tool_result"]
    return found


@pytest.mark.parametrize("api", APIS)
async def test_multi_turn_with_two_parallel_tool_calls(api: str, fake: Any, runtime: Any, ledger: Any) -> None:
    server, url = await fake(api, [
        Reply(text="Let me look.", tool_calls=[("get_weather", '{"city": "Oslo"}'), ("get_time", '{"zone": "Europe/Oslo"}')]),
        Reply(text="Oslo: sunny, 21 C, and it is noon."),
    ])
    run = await start(agent_flows.chat, api, url, USER)
    out = await run.result(timeout=30)

    assert out["text"] == "Oslo: sunny, 21 C, and it is noon."
    assert (out["reason"], out["steps"]) == ("stop", 2)
    first, *tools, last = out["messages"]
    assert [c["function"]["name"] for c in first["tool_calls"]] == ["get_weather", "get_time"]
    assert json.loads(first["tool_calls"][0]["function"]["arguments"]) == {"city": "Oslo"}  # joined from pieces
    assert [t["content"] for t in tools] == ["sunny, 21 C in Oslo", "12:00 in Europe/Oslo"]
    assert last == {"role": "assistant", "content": "Oslo: sunny, 21 C, and it is noon."}
    assert sorted(e["tool"] for e in ledger()) == ["get_time", "get_weather"]

    # The model saw the tools' schemas, then both results in the second request.
    bodies = [r.body for r in server.requests]
    assert len(bodies) == 2
    specs = bodies[0]["tools"]
    weather = specs[0]["function"] if api == "openai" else specs[0]
    assert weather["name"] == "get_weather" and weather["description"] == "The weather in a city."
    params = weather["parameters"] if api == "openai" else weather["input_schema"]
    assert params["required"] == ["city"] and params["properties"]["unit"]["enum"] == ["C", "F"]
    assert tool_contents(bodies[1]) == ["sunny, 21 C in Oslo", "12:00 in Europe/Oslo"]

    # The two tool steps ran in parallel: both were created before either finished.
    events = await run.events()
    tool_steps = {e.correlation_id for e in events if e.type == "step_created" and "agent_flows" in e.payload.get("step_id", "")}
    assert len(tool_steps) == 2
    created = [i for i, e in enumerate(events) if e.type == "step_created" and e.correlation_id in tool_steps]
    done = [i for i, e in enumerate(events) if e.type == "step_completed" and e.correlation_id in tool_steps]
    assert max(created) < min(done)

    # The stream: deltas, both tool calls with their arguments, results, step ends, the finish.
    chunks = await read_stream(run)
    assert text_of(chunks) == "Let me look.Oslo: sunny, 21 C, and it is noon."
    kinds = [c["type"] for _, c in chunks if c["type"] != "text-delta"]
    assert kinds == ["tool-call", "tool-call", "tool-result", "tool-result", "step-finish", "step-finish", "finish"]
    calls = [c for _, c in chunks if c["type"] == "tool-call"]
    assert [(c["tool"], c["args"]) for c in calls] == [("get_weather", {"city": "Oslo"}), ("get_time", {"zone": "Europe/Oslo"})]

    # The key went to the server, read in the step, and is nowhere in the log.
    sent = server.requests[0].headers
    assert (sent.get("Authorization") if api == "openai" else sent.get("x-api-key")) in (f"Bearer {API_KEY}", API_KEY)
    assert API_KEY not in json.dumps([e.payload for e in events], default=str)


@pytest.mark.parametrize("api", APIS)
async def test_429_is_retried_after_the_servers_retry_after(api: str, fake: Any, runtime: Any) -> None:
    server, url = await fake(api, [[Reply(status=429, retry_after="2"), Reply(text="Hello!")]])
    run = await start(agent_flows.chat, api, url, USER)
    assert (await run.result(timeout=30))["text"] == "Hello!"

    first, second = server.requests
    assert (first.turn, first.attempt, second.turn, second.attempt) == (0, 0, 0, 1)
    assert second.at - first.at >= 2.0  # not the 1 s backoff: the server's 2 s
    retrying = [e for e in await run.events() if e.type == "step_retrying"]
    assert len(retrying) == 1
    assert retrying[0].payload["retry_at"] - retrying[0].at == pytest.approx(2.0, abs=0.5)
    assert "HTTP 429" in retrying[0].payload["error"]["message"]


async def _approval_request(run: Any) -> dict[str, Any]:
    async for chunk in run.stream():
        if isinstance(chunk, dict) and chunk.get("type") == "approval-request":
            return chunk
    raise AssertionError("the stream ended without an approval request")


@pytest.mark.parametrize("api", APIS)
@pytest.mark.parametrize("approved", [False, True])
async def test_a_gated_tool_waits_for_approval(api: str, approved: bool, fake: Any, runtime: Any, ledger: Any) -> None:
    server, url = await fake(api, [
        Reply(tool_calls=[("delete_file", '{"path": "/tmp/report.txt"}')]),
        Reply(text="Done." if approved else "Understood, I left it."),
    ])
    run = await start(agent_flows.chat, api, url, [{"role": "user", "content": "delete the report"}])
    request = await _approval_request(run)
    assert (request["tool"], request["args"]) == ("delete_file", {"path": "/tmp/report.txt"})
    assert (await get_hook(request["token"])).open
    assert await run.status() == "running"
    assert ledger() == []  # waiting on the hook: the tool has not run

    await resume_hook(request["token"], {"approved": approved})
    out = await run.result(timeout=30)
    tool_message = out["messages"][1]
    if approved:
        assert tool_message["content"] == "deleted /tmp/report.txt"
        assert ledger() == [{"tool": "delete_file", "path": "/tmp/report.txt"}]  # once
    else:
        assert tool_message["content"] == DENIED
        assert ledger() == []  # never ran
    assert tool_contents(server.requests[1].body) == [tool_message["content"]]
    result = next(c for _, c in await read_stream(run) if c["type"] == "tool-result")
    assert result.get("denied", False) is not approved


@pytest.mark.parametrize("api", APIS)
async def test_a_reader_that_reconnects_mid_answer_gets_the_rest_once(api: str, fake: Any, runtime: Any) -> None:
    answer = "The quick brown fox jumps over the lazy dog, twice, and then rests."
    resume = asyncio.Event()
    _server, url = await fake(api, [Reply(text=answer, piece=3, pause_after=6, resume=resume)])
    run = await start(agent_flows.chat, api, url, USER)

    seen: list[str] = []
    stream = run.stream()
    async for chunk in stream:  # the first reader goes away after six deltas
        seen.append(chunk["delta"])
        if len(seen) == 6:
            break
    await stream.aclose()
    resume.set()
    rest = await read_stream(run, start_at=stream.next_index)
    assert "".join(seen) + text_of(rest) == answer
    assert rest[0][0] == stream.next_index and [c["type"] for _, c in rest][-1] == "finish"


@pytest.mark.parametrize("api", APIS)
async def test_bad_tool_calls_go_back_to_the_model(api: str, fake: Any, runtime: Any, ledger: Any) -> None:
    _server, url = await fake(api, [
        Reply(tool_calls=[
            ("get_weather", '{"city": "Oslo"'),  # malformed JSON
            ("launch_rockets", "{}"),  # no such tool
            ("get_time", '{"zone": 5}'),  # wrong type
            ("burn_disk", '{"x": 1}'),  # raises FatalError
        ]),
        Reply(text="Sorry, something went wrong."),
    ])
    run = await start(agent_flows.chat, api, url, USER)
    out = await run.result(timeout=30)
    assert out["reason"] == "stop"
    errors = [m["content"] for m in out["messages"] if m["role"] == "tool"]
    assert "not valid JSON" in errors[0]
    assert "no tool named 'launch_rockets'" in errors[1] and "get_weather" in errors[1]
    assert "invalid arguments for get_time" in errors[2] and "Expected `str`, got `int`" in errors[2]
    assert errors[3] == "Error: FatalError: the disk is on fire"
    assert [e["tool"] for e in ledger()] == ["burn_disk"]  # the others never ran
    assert out["text"] == "Sorry, something went wrong."


@pytest.mark.parametrize("api", APIS)
async def test_max_steps_stops_a_model_that_keeps_calling_tools(api: str, fake: Any, runtime: Any) -> None:
    server, url = await fake(api, lambda body: Reply(tool_calls=[("get_time", '{"zone": "UTC"}')]))
    run = await start(agent_flows.chat, api, url, USER, max_steps=3)
    out = await run.result(timeout=30)
    assert (out["reason"], out["steps"]) == ("max-steps", 3)
    assert len(server.requests) == 3
    finish = [c for _, c in await read_stream(run) if c["type"] == "finish"]
    assert finish == [{"type": "finish", "reason": "max-steps", "text": "", "steps": 3}]


def test_tool_schema_and_description_come_from_the_function() -> None:
    described = tool(agent_flows.get_weather)
    assert described.name == "get_weather"
    assert described.description == "The weather in a city."
    assert described.parameters["properties"]["city"] == {"type": "string"}
    assert described.parameters["required"] == ["city"]
    renamed = tool(agent_flows.burn_disk, name="burn", description="Burns.", needs_approval=True)
    assert (renamed.name, renamed.description, renamed.needs_approval) == ("burn", "Burns.", True)
    assert tool(agent_flows.burn_disk).description == ""


@pytest.mark.parametrize("api", APIS)
async def test_a_model_call_cut_off_mid_answer_is_retried_and_its_text_rolled_back(
    api: str, fake: Any, runtime: Any
) -> None:
    answer = "Sunny all week in Oslo, with a light breeze."
    resume = asyncio.Event()
    server, url = await fake(api, [[
        Reply(text="Sunny all week in Os-- (the connection drops here)", piece=3, pause_after=3, resume=resume, fail_after=5),
        Reply(text=answer, piece=3),
    ]])
    run = await start(agent_flows.chat, api, url, USER)

    shown: dict[int, Any] = {}
    rollbacks = []
    stream = run.stream()
    async for item in stream:
        if isinstance(item, StreamRollback):
            rollbacks.append(item)
            for i in item.indexes:
                shown.pop(i, None)
        else:
            shown[stream.index] = item
            if len(shown) == 3:
                resume.set()  # this reader has shown three deltas of the attempt that will fail
    assert len(rollbacks) == 1 and {0, 1, 2} <= set(rollbacks[0].indexes)  # what this reader showed
    assert text_of(sorted(shown.items())) == answer  # the retry's text, once
    assert [(r.attempt, r.finished) for r in server.requests] == [(0, False), (1, True)]
    assert (await run.result(timeout=30))["text"] == answer


@pytest.mark.parametrize("api", APIS)
async def test_a_workflow_level_tool_sleeps_durably_and_stop_when_stops(api: str, fake: Any, runtime: Any) -> None:
    _server, url = await fake(api, [
        Reply(tool_calls=[("nap", '{"seconds": 1}'), ("get_time", '{"zone": "UTC"}')]),
        Reply(tool_calls=[("get_time", '{"zone": "CET"}')]),
        Reply(text="never asked: stop_when stops after two steps"),
    ])
    run = await start(agent_flows.chat_until, api, url, USER, 2)
    out = await run.result(timeout=30)
    assert out == {
        "reason": "stop-when",
        "finished": [0, 1],  # on_step_finish, once per step
        "results": ["rested 1s", "12:00 in UTC", "12:00 in CET"],
    }
    types = [e.type for e in await run.events()]
    assert types.count("wait_created") == 1 and types.count("wait_completed") == 1  # the nap


async def test_tool_errors_are_bounded(fake: Any, runtime: Any) -> None:
    """A model that keeps calling a tool that does not exist is stopped after
    three failed steps in a row, well before max_steps: the run completes."""
    server, url = await fake("openai", lambda body: Reply(tool_calls=[("launch_rockets", "{}")]))
    run = await start(agent_flows.chat, "openai", url, USER)
    out = await run.result(timeout=30)
    assert (out["reason"], out["steps"], len(server.requests)) == ("tool-errors", 3, 3)


async def test_a_model_call_that_fails_for_good_writes_an_error_and_fails_the_run(fake: Any, runtime: Any) -> None:
    server, url = await fake("openai", [Reply(status=400)])  # a 4xx other than 408/409/429: not retried
    run = await start(agent_flows.chat, "openai", url, USER)
    with pytest.raises(WorkflowFailed) as failed:
        await run.result(timeout=30)
    assert failed.value.error_type == "FatalError" and "HTTP 400" in failed.value.message
    assert len(server.requests) == 1
    errors = [c for _, c in await read_stream(run) if c["type"] == "error"]
    assert len(errors) == 1 and "HTTP 400" in errors[0]["message"]


async def test_ndjson_reader_reconnects_mid_answer_over_http(fake: Any, runtime: Any) -> None:
    """The same over HTTP (`wdk serve`'s stream route): NDJSON lines, then a
    second request from `?start=` the next index."""
    import aiohttp

    from wdk.server.app import start_server

    answer = "Streaming over HTTP, one small delta at a time, resumed from an index."
    resume = asyncio.Event()
    _server, url = await fake("openai", [Reply(text=answer, piece=3, pause_after=4, resume=resume)])
    run = await start(agent_flows.chat, "openai", url, USER)
    server = await start_server("127.0.0.1", 0, api_token="agent-test-token")
    stream_url = f"{server.url}/.well-known/workflow/v1/runs/{run.id}/stream"
    try:
        # The stream route is part of the API: it needs the API token.
        async with aiohttp.ClientSession(headers={"Authorization": "Bearer agent-test-token"}) as http:
            first: list[dict[str, Any]] = []
            async with http.get(stream_url) as resp:
                async for line in resp.content:
                    first.append(json.loads(line))
                    if len(first) == 4:
                        break  # the reader goes away mid-answer
            resume.set()
            async with http.get(stream_url, params={"start": "4"}) as resp:
                rest = [json.loads(line) async for line in resp.content]
    finally:
        await server.close()
    chunks = list(enumerate(first + rest))
    assert text_of(chunks) == answer
    assert [c["type"] for _, c in chunks][-2:] == ["step-finish", "finish"]


async def test_an_approval_can_be_posted_to_its_url(fake: Any, runtime: Any, ledger: Any) -> None:
    """The approval request also carries a URL (the hook is a webhook): a
    POST of {"approved": true} decides; a GET (a link preview) does not."""
    from urllib.parse import urlsplit

    import aiohttp

    from wdk.server.app import start_server

    _server, url = await fake("openai", [
        Reply(tool_calls=[("delete_file", '{"path": "/tmp/a"}')]),
        Reply(text="Deleted."),
    ])
    run = await start(agent_flows.chat, "openai", url, USER)
    request = await _approval_request(run)
    assert urlsplit(request["url"]).path == f"/.well-known/workflow/v1/webhook/{request['token']}"
    server = await start_server("127.0.0.1", 0)
    hook_url = server.url + urlsplit(request["url"]).path
    try:
        async with aiohttp.ClientSession() as http:
            async with http.get(hook_url) as resp:
                assert resp.status == 202
            assert (await get_hook(request["token"])).open and ledger() == []  # still waiting
            async with http.post(hook_url, json={"approved": True}) as resp:
                assert resp.status == 202
        out = await run.result(timeout=30)
    finally:
        await server.close()
    assert out["messages"][1]["content"] == "deleted /tmp/a"
    assert ledger() == [{"tool": "delete_file", "path": "/tmp/a"}]
