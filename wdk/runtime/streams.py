"""Output streams: steps write chunks, clients read them live (`Run.stream()`).

    async def generate(prompt: str, out: Writable) -> str:
        "use step"
        async for token in llm.stream(prompt):
            await out.write(token)
        await out.close()

Chunks are buffered and committed in batches (at the latest when the step
yields to the event loop, and always before the step's result is recorded),
so writing is cheap and readers see chunks within a loop tick. Each chunk is
tagged with the step execution that wrote it (`StepMetadata.attempt_key`):
when that execution fails or its worker dies, `roll_back_attempt` takes its
chunks back (see `stream_reader` for what readers then see).
"""

from __future__ import annotations

import asyncio
from typing import Any

from wdk.errors import StreamClosedError
from wdk.runtime import serde
from wdk.runtime.current import current_instance, current_step, running_step, step_world
from wdk.runtime.stream_reader import StreamRollback
from wdk.worlds.base import World

DEFAULT_NAMESPACE = "default"
_FLUSH_AT = 1000  # chunks buffered before a write waits for the commit


class _Pending:
    """Chunks one step execution wrote to one stream and not yet committed, in
    order. Every writer object of that stream in the step shares it, so a
    `close()` on any of them commits what the others wrote first."""

    def __init__(self, run_id: str, namespace: str, attempt: str | None) -> None:
        self.run_id = run_id
        self.namespace = namespace
        self.attempt = attempt  # tags the chunks: what a rollback takes back
        self.buffer: list[bytes] = []
        self.flushing: asyncio.Task[None] | None = None
        self.error: BaseException | None = None  # a failed background commit, raised at the next call
        self.closed = False
        self._lock = asyncio.Lock()  # commits go out one at a time, in order

    def check(self) -> None:
        if self.error is not None:
            raise self.error
        if self.closed:
            raise StreamClosedError.of(self.run_id, self.namespace, "was closed in this step")

    async def write(self, world: World, data: bytes) -> None:
        self.check()
        self.buffer.append(data)
        if len(self.buffer) >= _FLUSH_AT:
            await self.flush(world)
        elif self.flushing is None:
            self.flushing = asyncio.ensure_future(self._flush_soon(world))

    async def _flush_soon(self, world: World) -> None:
        try:
            await self._commit(world)
        except Exception as exc:  # kept for the step's next call (or its end): never lost
            self.error = self.error or exc
        finally:
            self.flushing = None

    async def _commit(self, world: World) -> None:
        async with self._lock:
            while self.buffer:
                batch, self.buffer = self.buffer, []
                await world.stream_append(self.run_id, self.namespace, batch, attempt=self.attempt)

    async def flush(self, world: World) -> None:
        if self.error is not None:
            raise self.error
        try:
            await self._commit(world)
        except Exception as exc:
            self.error = self.error or exc
            raise
        if self.error is not None:  # the background commit failed meanwhile
            raise self.error

    async def close(self, world: World) -> None:
        if self.closed:
            return
        await self.flush(world)
        self.closed = True
        await world.stream_close(self.run_id, self.namespace, attempt=self.attempt)


class Writable:
    """A writer for one stream of one run. Serializable: pass it to steps."""

    def __init__(self, run_id: str, namespace: str | None = None) -> None:
        self.run_id = run_id
        self.namespace = namespace or DEFAULT_NAMESPACE
        self._own: _Pending | None = None  # used outside a step
        self._last: tuple[list[_Pending], _Pending] | None = None  # (step, its pending writes)

    def __repr__(self) -> str:
        return f"Writable(run_id={self.run_id!r}, namespace={self.namespace!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Writable) and (other.run_id, other.namespace) == (self.run_id, self.namespace)

    def __hash__(self) -> int:
        return hash((self.run_id, self.namespace))

    def _world(self) -> World:
        world = step_world() if current_instance() is None else None
        if world is not None:
            return world
        raise RuntimeError("stream writers can only be used inside a step (pass the writer to a step)")

    def _pending(self) -> _Pending:
        """This stream's pending writes in the running step (shared by all its
        writer objects), else this object's own."""
        running = running_step.get()
        if running is None:
            if self._own is None:
                self._own = _Pending(self.run_id, self.namespace, None)
            return self._own
        # The step's pending writes (`RunningStep.writers`), one _Pending per
        # stream whatever the number of Writable objects: flushed before its
        # result is recorded.
        step = running.writers
        if self._last is not None and self._last[0] is step:
            return self._last[1]  # the common case: the same step writes again
        pending = next((p for p in step if (p.run_id, p.namespace) == (self.run_id, self.namespace)), None)
        if pending is None:
            pending = _Pending(self.run_id, self.namespace, running.metadata.attempt_key)
            step.append(pending)
        self._last = (step, pending)
        return pending

    async def write(self, chunk: Any) -> None:
        """Append one chunk (any serializable value). StreamClosedError (a
        FatalError: the step is not retried) once the stream is closed."""
        world = self._world()
        if isinstance(chunk, StreamRollback):
            raise TypeError(f"{type(chunk).__name__} is what readers get; it cannot be written")
        await self._pending().write(world, serde.dumps(chunk, "chunk"))

    async def flush(self) -> None:
        """Commit every buffered chunk of this stream."""
        await self._pending().flush(self._world())

    async def close(self) -> None:
        """Commit what this step wrote to the stream (through any writer object),
        then mark it closed: readers stop after the last chunk."""
        await self._pending().close(self._world())


def get_writable(namespace: str | None = None) -> Writable:
    """A writer for the current run's stream `namespace`. Inside a step it is
    ready to use; inside a workflow it is a handle to pass to a step."""
    inst = current_instance()
    if inst is not None:
        return Writable(inst.run_id, namespace)
    meta = current_step()
    if meta is None:
        raise RuntimeError("get_writable() can only be called inside a workflow or a step")
    return Writable(meta.run_id, namespace)


async def flush_step_writers(writers: list[_Pending]) -> None:
    """Commit the step's pending writes (before its result is recorded)."""
    for pending in writers:
        await pending.flush(Writable(pending.run_id)._world())


async def roll_back_attempt(world: World, run_id: str, attempt_key: str) -> int:
    """Take back what one execution of a step wrote to the run's streams (it
    failed, or its worker died): readers skip those chunks from now on, and one
    that got some is sent a StreamRollback. Its later writes stay hidden.
    Returns how many chunks were taken back; calling it again is harmless."""
    return await world.stream_rollback(run_id, attempt_key)


serde.register_type(
    Writable,
    lambda w: {"run_id": w.run_id, "namespace": w.namespace},
    lambda d: Writable(d["run_id"], d["namespace"]),
    name="wdk.Writable",
)
