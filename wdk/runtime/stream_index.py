"""Where a reader starts in a run's stream: the tail index and negative starts.

    tail = await tail_index(world, run_id, "default")     # last chunk's index, -1 if none
    first = await resolve_start(world, run_id, "default", -1)   # that last chunk

A negative start counts from the end, as Python's indexes do (`-1` is the
last chunk written so far, `-2` the one before); one before the first
chunk is the first chunk. A start of 0 or more is kept as it is.
"""

from __future__ import annotations

from wdk.worlds.base import World

__all__ = ["resolve_start", "resolved", "start_and_tail", "tail_index"]


async def tail_index(world: World, run_id: str, namespace: str) -> int:
    """Index of the last chunk written to the stream, -1 when it has none.
    RunNotFound for an unknown run."""
    for stream in await world.list_streams(run_id):
        if stream.namespace == namespace:
            return stream.length - 1
    return -1


async def resolve_start(world: World, run_id: str, namespace: str, start: int) -> int:
    """`start`, or for a negative one the index it names now (never below 0)."""
    if start >= 0:
        return start
    return resolved(start, await tail_index(world, run_id, namespace))


def resolved(start: int, tail: int) -> int:
    """A negative `start` against a known `tail` index."""
    return start if start >= 0 else max(0, tail + 1 + start)


async def start_and_tail(world: World, run_id: str, namespace: str, start: int) -> tuple[int, int]:
    """(first index to send, tail index now): what the HTTP stream endpoint needs."""
    tail = await tail_index(world, run_id, namespace)
    return resolved(start, tail), tail
