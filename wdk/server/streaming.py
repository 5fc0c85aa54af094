"""A run's stream as an aiohttp response (the body is `wdk.server.stream_body`'s)."""

from __future__ import annotations

from aiohttp import web

from wdk import protocol
from wdk.server.stream_body import stream_body
from wdk.worlds.base import World

__all__ = ["parse_start", "send_stream", "wants_sse"]


def wants_sse(request: web.Request) -> bool:
    return protocol.wants_sse(request.headers.get("accept", ""))


async def send_stream(
    request: web.Request,
    world: World,
    run_id: str,
    namespace: str,
    start: int,
    sse: bool,
    tail: int | None = None,
) -> web.StreamResponse:
    resp = web.StreamResponse(status=200, headers=protocol.stream_headers(sse, start, tail))
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


def parse_start(request: web.Request, sse: bool) -> int:
    return protocol.parse_start(request.query.get("start"), request.headers.get("last-event-id"), sse)
