"""Output streams: steps write chunks, clients read them live (`Run.stream()`).

    async def generate(prompt: str, out: Writable) -> str:
        "use step"
        async for token in llm.stream(prompt):
            await out.write(token)
        await out.close()

Chunks are buffered and committed in batches (at the latest when the step
yields to the event loop, and always before the step's result is recorded),
so writing is cheap and readers see chunks within a loop tick.
"""

from __future__ import annotations

import asyncio
import contextvars
from typing import Any

from wdk.runtime import serde

DEFAULT_NAMESPACE = "default"
_FLUSH_AT = 1000  # chunks buffered before a write waits for the commit

# Writers used by the running step: flushed before its result is recorded.
_step_writers: contextvars.ContextVar[list[Writable] | None] = contextvars.ContextVar(
    "wdk_step_writers", default=None
)


class Writable:
    """A writer for one stream of one run. Serializable: pass it to steps."""

    def __init__(self, run_id: str, namespace: str | None = None) -> None:
        self.run_id = run_id
        self.namespace = namespace or DEFAULT_NAMESPACE
        self._buffer: list[bytes] = []
        self._flushing: asyncio.Task[None] | None = None
        self._closed = False

    def __repr__(self) -> str:
        return f"Writable(run_id={self.run_id!r}, namespace={self.namespace!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Writable) and (other.run_id, other.namespace) == (self.run_id, self.namespace)

    def __hash__(self) -> int:
        return hash((self.run_id, self.namespace))

    def _world(self) -> Any:
        from wdk.runtime.runtime import current_runtime

        rt = current_runtime()
        if rt is None or getattr(asyncio.get_running_loop(), "instance", None) is not None:
            raise RuntimeError("stream writers can only be used inside a step (pass the writer to a step)")
        return rt.world

    def _register(self) -> None:
        writers = _step_writers.get()
        if writers is not None and self not in writers:
            writers.append(self)

    async def write(self, chunk: Any) -> None:
        """Append one chunk (any serializable value)."""
        if self._closed:
            raise RuntimeError(f"stream {self.namespace!r} of run {self.run_id} is closed")
        self._world()
        self._buffer.append(serde.dumps(chunk, "chunk"))
        self._register()
        if len(self._buffer) >= _FLUSH_AT:
            await self.flush()
        elif self._flushing is None:
            self._flushing = asyncio.ensure_future(self._flush_soon())

    async def _flush_soon(self) -> None:
        try:
            await self._commit()
        finally:
            self._flushing = None

    async def _commit(self) -> None:
        while self._buffer:
            batch, self._buffer = self._buffer, []
            await self._world().stream_append(self.run_id, self.namespace, batch)

    async def flush(self) -> None:
        """Commit every buffered chunk."""
        if self._flushing is not None:
            await asyncio.shield(self._flushing)
        await self._commit()

    async def close(self) -> None:
        """Flush and mark the stream closed: readers stop after the last chunk."""
        if self._closed:
            return
        await self.flush()
        self._closed = True
        await self._world().stream_close(self.run_id, self.namespace)


def get_writable(namespace: str | None = None) -> Writable:
    """A writer for the current run's stream `namespace`. Inside a step it is
    ready to use; inside a workflow it is a handle to pass to a step."""
    from wdk.runtime.steps import _current

    loop: Any
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        loop = None
    inst = getattr(loop, "instance", None)
    if inst is not None:
        return Writable(inst.run_id, namespace)
    meta = _current.get()
    if meta is None:
        raise RuntimeError("get_writable() can only be called inside a workflow or a step")
    return Writable(meta.run_id, namespace)


async def flush_step_writers(writers: list[Writable]) -> None:
    for writer in writers:
        await writer.flush()


serde.register_type(
    Writable,
    lambda w: {"run_id": w.run_id, "namespace": w.namespace},
    lambda d: Writable(d["run_id"], d["namespace"]),
    name="wdk.Writable",
)
