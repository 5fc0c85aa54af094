"""A run's stream over HTTP: chunked NDJSON, or Server-Sent Events.

NDJSON: one chunk per line, in wdk's serde JSON (plain JSON values are
themselves), from index `start` (negative: from the end; the response's
`x-wdk-stream-tail-index` header is the last chunk's index when it started);
the body ends when the stream is closed (at the latest when its run ends).
SSE (`Accept: text/event-stream`): `id: <index>` and `data: <json>` per
chunk, so a browser's EventSource resumes by itself (`Last-Event-ID`); a
final `event: end`; a `: keep-alive` comment every 15 s of silence.

Rollbacks (see `wdk.runtime.stream_reader`): a reader that got chunks of a
step attempt that then failed or died gets a marker, NDJSON
`{"$wdk": "rollback", "index": 7, "ranges": [[0, 3]]}`, SSE `id: 7` /
`event: rollback` / `data: {"index": 7, "ranges": [[0, 3]]}`. Skipped
indexes are announced to NDJSON readers (which see no ids) by
`{"$wdk": "gap", "next": 8}` before the line at index 8.

Catching up reads whole pages and writes each page in one piece; only when
the reader has caught up does it follow the live stream, one wake at a time.
Memory is one page, whatever the stream's size.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable

import msgspec
from aiohttp import web

from wdk.runtime.stream_reader import NDJSON_GAP, NDJSON_ROLLBACK, ReadFilter, StreamRollback
from wdk.worlds.base import StreamChunk, World

PAGE = 512
FIRST_PAGE = 8
KEEPALIVE_SECONDS = 15.0

NDJSON = "application/x-ndjson"
EVENT_STREAM = "text/event-stream"


_json = msgspec.json.Encoder().encode


def wants_sse(request: web.Request) -> bool:
    return EVENT_STREAM in request.headers.get("accept", "")


def encode_chunks(chunks: list[StreamChunk], sse: bool, view: ReadFilter) -> bytes:
    """The body piece for chunks read in order: those `view` admits, as NDJSON
    lines (with a gap line before a skip) or SSE events."""
    if not chunks:
        return b""
    expected = view.delivered_to
    if view.admit_plain(chunks):  # the common case: a page without markers or holes
        if sse:
            return b"".join(b"id: %d\ndata: %s\n\n" % (c.index, c.data) for c in chunks)
        head = _gap_line(chunks[0].index) if chunks[0].index != expected else b""
        return head + b"".join(c.data + b"\n" for c in chunks)
    out: list[bytes] = []
    for c in chunks:
        expected = view.delivered_to
        if not view.admit(c):
            continue
        if c.rollback is not None:
            marker = StreamRollback(c.index, c.rollback).to_json()
            if sse:
                out.append(b"id: %d\nevent: rollback\ndata: %s\n\n" % (c.index, _json(marker)))
            else:
                out.append(_json({"$wdk": NDJSON_ROLLBACK, **marker}) + b"\n")
        elif sse:
            out.append(b"id: %d\ndata: %s\n\n" % (c.index, c.data))
        else:
            if c.index != expected:
                out.append(_gap_line(c.index))
            out.append(c.data + b"\n")
    return b"".join(out)


def _gap_line(next_index: int) -> bytes:
    return _json({"$wdk": NDJSON_GAP, "next": next_index}) + b"\n"


async def _next_live(world: World, run_id: str, namespace: str, index: int, wait: float) -> StreamChunk | bool | None:
    """The chunk at `index` once written; None when the stream closed first;
    False when `wait` seconds passed with nothing."""
    follower: AsyncIterator[StreamChunk] = world.stream_follow(run_id, namespace, index)
    try:
        return await asyncio.wait_for(anext(follower, None), wait)
    except TimeoutError:
        return False
    finally:
        aclose = getattr(follower, "aclose", None)
        if aclose is not None:
            with contextlib.suppress(Exception):
                await aclose()


TAIL_HEADER = "x-wdk-stream-tail-index"


def stream_headers(sse: bool, start: int, tail: int | None = None) -> dict[str, str]:
    headers = {
        "content-type": (EVENT_STREAM if sse else NDJSON) + "; charset=utf-8",
        "cache-control": "no-cache",
        "x-accel-buffering": "no",  # proxies: do not hold chunks back
        "x-wdk-stream-start": str(start),
    }
    if tail is not None:
        # The last chunk's index when the response started (-1: none yet).
        headers[TAIL_HEADER] = str(tail)
    return headers


async def stream_body(
    world: World,
    run_id: str,
    namespace: str,
    index: int,
    sse: bool,
    reader_gone: Callable[[], bool] = lambda: False,
) -> AsyncIterator[bytes]:
    """A run's stream from `index` as response body pieces (NDJSON lines, or SSE
    events ending with `event: end`), following it live until it is closed.
    Shared by `wdk serve` and the framework plugins."""
    page = FIRST_PAGE  # small first: the first chunk goes out at once; then whole pages
    view = ReadFilter(index)
    while True:
        chunks, closed = await world.stream_read(run_id, namespace, index, page)
        page = min(page * 4, PAGE)
        if chunks:
            piece = encode_chunks(chunks, sse, view)
            if piece:
                yield piece
            index = chunks[-1].index + 1
            # Yield: a local world reads without awaiting, and a long
            # catch-up must not hold the loop (other requests, the runtime).
            await asyncio.sleep(0)
            continue
        if closed:
            break
        live = await _next_live(world, run_id, namespace, index, KEEPALIVE_SECONDS)
        if live is None:
            break
        if live is False:
            if reader_gone():
                return
            if sse:
                yield b": keep-alive\n\n"
            continue
        assert isinstance(live, StreamChunk)
        piece = encode_chunks([live], sse, view)
        if piece:
            yield piece
        index = live.index + 1
    if sse:
        yield b'event: end\ndata: {"next":%d}\n\n' % index


async def send_stream(
    request: web.Request,
    world: World,
    run_id: str,
    namespace: str,
    start: int,
    sse: bool,
    tail: int | None = None,
) -> web.StreamResponse:
    resp = web.StreamResponse(status=200, headers=stream_headers(sse, start, tail))
    resp.enable_chunked_encoding()
    await resp.prepare(request)

    def reader_gone() -> bool:
        return request.transport is None or request.transport.is_closing()

    try:
        async for piece in stream_body(world, run_id, namespace, start, sse, reader_gone):
            await resp.write(piece)
        if not reader_gone():
            await resp.write_eof()
    except ConnectionError:
        pass  # the reader went away mid-write
    return resp


def parse_start_values(start: str | None, last_event_id: str | None, sse: bool) -> int:
    """`?start=` (default 0; negative counts from the end, resolved by the
    caller with wdk.runtime.stream_index), or one past SSE's `Last-Event-ID`."""
    from wdk.server.app import BadRequest

    raw = start or "0"
    last = last_event_id if sse else None
    try:
        value = int(last) + 1 if last else int(raw)
    except ValueError:
        raise BadRequest(f"start must be an integer, not {raw!r}") from None
    if not -(2**62) <= value <= 2**62:
        raise BadRequest(f"start must be between -2**62 and 2**62, not {value}")
    return value


def parse_start(request: web.Request, sse: bool) -> int:
    return parse_start_values(request.query.get("start"), request.headers.get("last-event-id"), sse)
