"""Over HTTP: a stream's negative start and tail header, hook lookup by token,
and the same through a `server_url` client."""

from __future__ import annotations

import asyncio
import json
import time

import aiohttp
import pytest
from flows import apis
from support import AUTH, WELL_KNOWN

from wdk import HookNotFound
from wdk.api import HookInfo, configure, get_hook, get_run, resume_hook, start
from wdk.server.app import Server


def _stream_url(server: Server, run_id: str, query: str = "") -> str:
    return f"{server.url}{WELL_KNOWN}/runs/{run_id}/stream" + (f"?{query}" if query else "")


async def _finished_numbers(n: int) -> str:
    run = await start(apis.numbers, n)
    assert await run.result(timeout=10) == n
    return run.id


async def test_negative_start_and_tail_header(server: Server) -> None:
    run_id = await _finished_numbers(5)
    async with aiohttp.ClientSession(headers=AUTH) as http:
        async with http.get(_stream_url(server, run_id, "start=-1")) as resp:
            assert resp.status == 200
            assert resp.headers["x-wdk-stream-tail-index"] == "4"
            assert resp.headers["x-wdk-stream-start"] == "4"
            assert [json.loads(line) async for line in resp.content] == [4]
        async with http.get(
            _stream_url(server, run_id, "start=-2"), headers={"accept": "text/event-stream"}
        ) as resp:
            ids = [line.decode()[4:].strip() async for line in resp.content if line.startswith(b"id: ")]
            assert ids == ["3", "4"]
        async with http.get(_stream_url(server, run_id, "start=-50")) as resp:
            assert [json.loads(line) async for line in resp.content] == [0, 1, 2, 3, 4]
        async with http.get(_stream_url(server, run_id, "namespace=empty&start=-1")) as resp:
            assert resp.headers["x-wdk-stream-tail-index"] == "-1"
        async with http.get(_stream_url(server, run_id)) as resp:
            assert resp.headers["x-wdk-stream-tail-index"] == "4"  # on every response
            assert len([line async for line in resp.content]) == 5
        async with http.get(_stream_url(server, run_id, "start=-x")) as resp:
            assert resp.status == 400


async def test_get_hook_over_the_json_api(server: Server) -> None:
    run = await start(apis.holds_token, "http-hook")
    deadline = time.monotonic() + 10
    while not any(e.type == "hook_created" for e in await run.events()):
        assert time.monotonic() < deadline
        await asyncio.sleep(0.01)
    async with aiohttp.ClientSession(headers=AUTH) as http:
        async with http.get(f"{server.url}/api/hooks/http-hook") as resp:
            assert resp.status == 200
            body = await resp.json()
        async with http.get(f"{server.url}/api/hooks/nope") as resp:
            assert resp.status == 404 and (await resp.json())["type"] == "HookNotFound"
    assert body["run_id"] == run.id and body["open"] is True and body["token"] == "http-hook"
    await resume_hook("http-hook", 1)
    await run.result(timeout=10)


async def test_server_url_client_reads_tail_negative_start_and_hooks(server: Server) -> None:
    run_id = await _finished_numbers(4)
    holder = await start(apis.holds_token, "remote-lookup")
    deadline = time.monotonic() + 10
    while not any(e.type == "hook_created" for e in await holder.events()):
        assert time.monotonic() < deadline
        await asyncio.sleep(0.01)
    configure(server_url=server.url)  # from here on, wdk.api goes over HTTP (holder stays local)
    run = get_run(run_id)
    assert await run.stream_tail_index() == 3
    assert [c async for c in run.stream(start=-2)] == [2, 3]
    info = await get_hook("remote-lookup")
    assert isinstance(info, HookInfo) and (info.run_id, info.open) == (holder.id, True)
    with pytest.raises(HookNotFound):
        await get_hook("remote-none")
    await resume_hook("remote-lookup", "bye")
    assert await holder.result(timeout=10) == "bye"
