"""A run's stream over HTTP: NDJSON and SSE, live, resumed, and big."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import resource
import time
from collections.abc import Callable, Iterator
from typing import Any

import aiohttp
import pytest
import server_flows
from flows import streaming
from support import AUTH, WELL_KNOWN

from wdk import StreamRollback
from wdk.api import configure, get_run, start
from wdk.server.app import Server


def _url(server: Server, run_id: str, **params: object) -> str:
    query = "&".join(f"{k}={v}" for k, v in params.items())
    return f"{server.url}{WELL_KNOWN}/runs/{run_id}/stream" + (f"?{query}" if query else "")


async def test_ndjson_read_while_written_then_resumed_from_k(server: Server) -> None:
    run = await start(server_flows.chunks, 30, 4, 0.01)
    got: list[dict[str, object]] = []
    async with aiohttp.ClientSession(headers=AUTH) as http:
        async with http.get(_url(server, run.id)) as resp:
            assert resp.status == 200
            assert resp.headers["content-type"].startswith("application/x-ndjson")
            async for line in resp.content:
                got.append(json.loads(line))
                if len(got) == 10:
                    break  # disconnect mid-stream, while the step still writes
        assert await run.status() == "running"
        async with http.get(_url(server, run.id, start=10)) as resp:
            rest = [json.loads(line) async for line in resp.content]
    assert [c["i"] for c in got + rest] == list(range(30))
    assert await run.result(timeout=10) == 30


async def test_sse_read_while_written_then_resumed_with_last_event_id(server: Server) -> None:
    run = await start(server_flows.chunks, 20, 4, 0.01)
    events: list[tuple[int, dict[str, object]]] = []
    async with aiohttp.ClientSession(headers=AUTH) as http:
        headers = {"accept": "text/event-stream"}
        async with http.get(_url(server, run.id), headers=headers) as resp:
            assert resp.headers["content-type"].startswith("text/event-stream")
            ident = None
            async for raw in resp.content:
                line = raw.decode().rstrip("\n")
                if line.startswith("id: "):
                    ident = int(line[4:])
                elif line.startswith("data: "):
                    events.append((ident or 0, json.loads(line[6:])))
                    if len(events) == 5:
                        break
        assert await run.status() == "running"
        last = events[-1][0]
        tail: list[str] = []
        async with http.get(_url(server, run.id), headers={**headers, "last-event-id": str(last)}) as resp:
            async for raw in resp.content:
                tail.append(raw.decode())
    text = "".join(tail)
    rest = [json.loads(line[6:]) for line in text.splitlines() if line.startswith("data: ") and '"i"' in line]
    assert [e[1]["i"] for e in events] + [c["i"] for c in rest] == list(range(20))
    assert 'event: end\ndata: {"next":20}' in text
    await run.result(timeout=10)


async def test_stream_errors(server: Server) -> None:
    run = await start(server_flows.chunks, 1, 1, 0)
    await run.result(timeout=10)
    async with aiohttp.ClientSession(headers=AUTH) as http:
        async with http.get(_url(server, "wrun_nope")) as resp:
            assert resp.status == 404
            assert (await resp.json())["type"] == "RunNotFound"
        for bad in ("x", "1e3", str(-(2**63))):  # -1 counts from the end (test_upstream_http)
            async with http.get(_url(server, run.id, start=bad)) as resp:
                assert resp.status == 400
        async with http.get(_url(server, run.id, start=5)) as resp:  # past the end of a closed stream
            assert resp.status == 200 and await resp.read() == b""


def _status_kib(field: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def _rss_kib() -> int:
    return _status_kib("VmRSS")


def _reset_peak() -> bool:
    """Reset VmHWM (the kernel's peak RSS) to the current RSS, where allowed."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


@pytest.mark.skipif(not os.path.exists("/proc/self/status"), reason="needs /proc")
async def test_100_mb_stream_read_over_http_in_bounded_memory(server: Server) -> None:
    n, size = 100_000, 1000  # ~1 KB per chunk as JSON: ~100 MB
    t0 = time.monotonic()
    run = await start(server_flows.chunks, n, size, 0)
    assert await run.result(timeout=50) == n
    written = time.monotonic() - t0
    base = _rss_kib()
    exact = _reset_peak()
    peak = base
    count = total = 0
    async with aiohttp.ClientSession(headers=AUTH) as http, http.get(_url(server, run.id)) as resp:
        async for line in resp.content:
            total += len(line)
            if count % 5000 == 0:
                assert json.loads(line)["i"] == count
                peak = max(peak, _rss_kib())
            count += 1
    peak = max(peak, _rss_kib(), _status_kib("VmHWM") if exact else 0)
    assert count == n
    assert total >= 100_000_000
    growth_mb = (peak - base) / 1024
    print(f"100 MB stream: written in {written:.1f} s, read in {time.monotonic() - t0 - written:.1f} s, "
          f"peak RSS growth {growth_mb:.1f} MB ({'VmHWM' if exact else 'sampled'})")
    assert growth_mb < 50, f"RSS grew by {growth_mb:.1f} MB while reading"


# --- issue 8 item 5: rollbacks and streams that end with their run ---------------

ROLLBACK_LINE = {"$wdk": "rollback", "index": 3, "ranges": [[0, 3]]}


async def _sse_events(resp: aiohttp.ClientResponse, on_event: Callable[[int], None] = lambda n: None) -> list[tuple[int | None, str, Any]]:
    """(id, event, data) per SSE event, until the body ends."""
    events: list[tuple[int | None, str, Any]] = []
    ident: int | None = None
    kind = "message"
    async for raw in resp.content:
        line = raw.decode().rstrip("\n")
        if line.startswith("id: "):
            ident = int(line[4:])
        elif line.startswith("event: "):
            kind = line[7:]
        elif line.startswith("data: "):
            events.append((ident, kind, json.loads(line[6:])))
            ident, kind = None, "message"
            on_event(len(events))
    return events


@contextlib.contextmanager
def _gate(name: str) -> Iterator[asyncio.Event]:
    streaming.GATES[name] = asyncio.Event()
    try:
        yield streaming.GATES[name]
    finally:
        streaming.GATES.pop(name, None)


async def test_ndjson_live_reader_gets_the_rollback_of_a_failed_attempt(server: Server) -> None:
    with _gate("ndjson-live") as gate:
        run = await start(streaming.retried_story, "ndjson-live")
        lines: list[Any] = []
        async with aiohttp.ClientSession(headers=AUTH) as http, http.get(_url(server, run.id)) as resp:
            async with asyncio.timeout(20):
                async for raw in resp.content:
                    lines.append(json.loads(raw))
                    if len(lines) == len(streaming.ATTEMPT_1):
                        gate.set()  # now let attempt 1 fail
    assert lines == [*streaming.ATTEMPT_1, ROLLBACK_LINE, *streaming.ATTEMPT_2]
    assert await run.result(timeout=10) == "shipped"


async def test_ndjson_late_reader_sees_only_the_successful_attempt(server: Server) -> None:
    run = await start(streaming.retried_story, "no-gate")
    assert await run.result(timeout=10) == "shipped"
    async with aiohttp.ClientSession(headers=AUTH) as http:
        async with http.get(_url(server, run.id)) as resp:
            late = [json.loads(line) async for line in resp.content]
        # The gap line says where the next line sits, so counting lines resumes right.
        assert late == [{"$wdk": "gap", "next": 4}, *streaming.ATTEMPT_2]
        async with http.get(_url(server, run.id, start=6)) as resp:
            assert [json.loads(line) async for line in resp.content] == streaming.ATTEMPT_2[2:]


async def test_sse_live_and_late_readers_across_a_retry(server: Server) -> None:
    headers = {"accept": "text/event-stream"}
    with _gate("sse-live") as gate:
        run = await start(streaming.retried_story, "sse-live")

        def on_event(n: int) -> None:
            if n == len(streaming.ATTEMPT_1):
                gate.set()

        async with aiohttp.ClientSession(headers=AUTH) as http, http.get(_url(server, run.id), headers=headers) as resp:
            live = await asyncio.wait_for(_sse_events(resp, on_event), 20)
    second = [(4 + i, "message", w) for i, w in enumerate(streaming.ATTEMPT_2)]
    end = (None, "end", {"next": 8})
    assert live == [
        *[(i, "message", w) for i, w in enumerate(streaming.ATTEMPT_1)],
        (3, "rollback", {"index": 3, "ranges": [[0, 3]]}),
        *second,
        end,
    ]
    assert await run.result(timeout=10) == "shipped"
    async with aiohttp.ClientSession(headers=AUTH) as http, http.get(_url(server, run.id), headers=headers) as resp:
        assert await _sse_events(resp) == [*second, end]
    # Resumed where attempt 1 stood (Last-Event-ID 1): told to erase what it showed.
    resumed = {**headers, "last-event-id": "1"}
    async with aiohttp.ClientSession(headers=AUTH) as http, http.get(_url(server, run.id), headers=resumed) as resp:
        assert await _sse_events(resp) == [(3, "rollback", {"index": 3, "ranges": [[0, 3]]}), *second, end]


async def test_run_stream_over_http_keeps_indexes_and_markers(server: Server) -> None:
    run = await start(streaming.retried_story, "no-gate")
    assert await run.result(timeout=10) == "shipped"
    configure(server_url=server.url)  # Run.stream() of a new handle now reads NDJSON from the server
    late = get_run(run.id).stream()
    got = []
    async for item in late:
        got.append((late.index, item))
    assert got == [(4 + i, w) for i, w in enumerate(streaming.ATTEMPT_2)]
    assert late.next_index == 8
    assert [c async for c in get_run(run.id).stream(start=2)] == [
        StreamRollback(3, ((0, 3),)),
        *streaming.ATTEMPT_2,
    ]


async def test_http_readers_end_when_the_run_ends_without_closing(server: Server) -> None:
    with _gate("http-never-closes") as gate:
        run = await start(streaming.never_closes, 3, "http-never-closes")
        async with aiohttp.ClientSession(headers=AUTH) as http:
            ndjson = await http.get(_url(server, run.id))
            sse = await http.get(_url(server, run.id), headers={"accept": "text/event-stream"})
            unwritten = await http.get(_url(server, run.id, namespace="never-written"))
            try:
                first = [json.loads(await ndjson.content.readline()) for _ in range(3)]
                assert await run.status() == "running"
                gate.set()
                async with asyncio.timeout(20):
                    rest = [json.loads(line) async for line in ndjson.content]
                    events = await _sse_events(sse)
                    assert await unwritten.read() == b""
            finally:
                for resp in (ndjson, sse, unwritten):
                    resp.release()
    assert first == [0, 1, 2] and rest == []
    assert events == [(0, "message", 0), (1, "message", 1), (2, "message", 2), (None, "end", {"next": 3})]
    assert await run.result(timeout=10) == 3
