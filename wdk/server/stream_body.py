"""A run's stream as HTTP response body pieces: chunked NDJSON, or Server-Sent
Events. No framework here: `wdk serve` (wdk.server.streaming) and every
plugin write these pieces their own way.

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

from wdk.protocol import NDJSON_GAP, NDJSON_ROLLBACK
from wdk.runtime.stream_reader import ReadFilter, StreamRollback
from wdk.worlds.base import StreamChunk, World

__all__ = ["encode_chunks", "stream_body"]

PAGE = 512
FIRST_PAGE = 8
KEEPALIVE_SECONDS = 15.0

_json = msgspec.json.Encoder().encode


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
