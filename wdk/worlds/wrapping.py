"""A world around a world that changes how payloads are stored, not what they are.

    class Sealing(PayloadWorld):
        async def store(self, run_id, kind, correlation_id, field, value): ...   # -> stored form
        async def load(self, run_id, kind, correlation_id, field, value): ...    # -> the value

The fields that carry user data (`PAYLOAD_FIELDS`: run and step inputs and
results, hook payloads) go through `store` on the way in and `load` on the
way out, in every method that carries them (create/start/debounce a run, append,
read events, get/list runs: a run's `output` is its `run_completed`
result); stream chunks through `store_chunk`/`load_chunk`. Everything else
is the inner world's (`__getattr__`). `wdk.worlds.blobs` (large values
stored once) and `wdk.worlds.encrypted` (encryption at rest) are the two.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from typing import Any

import msgspec

from wdk.worlds.base import Event, Lease, NewEvent, NewRun, Page, RunInfo, StreamChunk, World

__all__ = ["PAYLOAD_FIELDS", "PayloadWorld"]

_ABSENT = object()

# The payload field that carries user data, by event type.
PAYLOAD_FIELDS: dict[str, str] = {
    "run_created": "input",
    "step_created": "input",
    "step_completed": "result",
    "run_completed": "result",
    "hook_received": "payload",
}


class PayloadWorld:
    """The shared shape: subclasses say how one field or chunk is stored."""

    def __init__(self, inner: World) -> None:
        self.inner = inner
        self.name = inner.name

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)  # everything that carries no payload

    # --- what a subclass defines ----------------------------------------------------

    async def store(self, run_id: str, kind: str, correlation_id: str | None, field: str, value: Any) -> Any:
        return value

    async def load(self, run_id: str, kind: str, correlation_id: str | None, field: str, value: Any) -> Any:
        return value

    def may_store(self, value: Any) -> bool:
        """Whether `store` may change `value` (a cheap check): an append skips
        the await for every other payload, so a small step pays nothing here."""
        return True

    def is_stored_form(self, value: Any) -> bool:
        """Whether `value` may need `load` (a cheap check): a read skips the
        await for every other event, so replay pays nothing per event."""
        return True

    async def store_debounced(self, run: NewRun, key: str) -> NewRun:
        """A debounced start's run: its payload may land in an earlier run of
        the same `key` (World.debounce_run), so nothing in it may be bound to
        `run.run_id`. By default it is stored as it is."""
        return run

    def store_chunk(self, run_id: str, namespace: str, data: bytes) -> bytes:
        return data

    def load_chunk(self, run_id: str, namespace: str, data: bytes) -> bytes:
        return data

    # --- fields ------------------------------------------------------------------------

    def _field_to_store(self, kind: str, payload: dict[str, Any]) -> str | None:
        field = PAYLOAD_FIELDS.get(kind)
        if field is None or field not in payload or not self.may_store(payload[field]):
            return None
        return field

    async def _stored(
        self, run_id: str, kind: str, corr: str | None, payload: dict[str, Any], field: str
    ) -> dict[str, Any]:
        """`payload` with `field` stored (`field` from _field_to_store)."""
        value = payload[field]
        stored = await self.store(run_id, kind, corr, field, value)
        return payload if stored is value else {**payload, field: stored}

    def _field_to_load(self, kind: str, payload: dict[str, Any]) -> str | None:
        field = PAYLOAD_FIELDS.get(kind)
        if field is None or field not in payload or not self.is_stored_form(payload[field]):
            return None
        return field

    async def _load_event(self, e: Event) -> Event:
        field = self._field_to_load(e.type, e.payload)
        if field is None:
            return e
        value = await self.load(e.run_id, e.type, e.correlation_id, field, e.payload[field])
        return msgspec.structs.replace(e, payload={**e.payload, field: value})

    async def _load_run(self, run: RunInfo | None) -> RunInfo | None:
        if run is None or run.output is None:
            return run
        output = await self.load(run.id, "run_completed", None, "result", run.output)
        return run if output is run.output else msgspec.structs.replace(run, output=output)

    async def _store_run(self, run: NewRun) -> NewRun:
        field = self._field_to_store("run_created", run.payload)
        if field is None:
            return run
        payload = await self._stored(run.run_id, "run_created", None, run.payload, field)
        return run if payload is run.payload else msgspec.structs.replace(run, payload=payload)

    # --- the methods that carry payloads ---------------------------------------------------

    async def create_run(self, run: NewRun) -> tuple[RunInfo, bool]:
        info, created = await self.inner.create_run(await self._store_run(run))
        return await self._load_run(info) or info, created

    async def start_run(
        self, run: NewRun, queue: str, *, owner: str | None = None, lease_for: float = 30.0
    ) -> tuple[RunInfo, bool, Lease | None]:
        stored = await self._store_run(run)
        info, created, lease = await self.inner.start_run(stored, queue, owner=owner, lease_for=lease_for)
        return await self._load_run(info) or info, created, lease

    async def debounce_run(self, run: NewRun, queue: str, key: str, window: float) -> tuple[RunInfo, bool]:
        info, created = await self.inner.debounce_run(await self.store_debounced(run, key), queue, key, window)
        return await self._load_run(info) or info, created

    async def append(self, run_id: str, expected_seq: int, events: Sequence[NewEvent]) -> list[Event]:
        may_store = self.may_store
        for e in events:
            # _field_to_store, inlined: every event of every commit comes here.
            field = PAYLOAD_FIELDS.get(e.type)
            if field is not None:
                value = e.payload.get(field, _ABSENT)
                if value is not _ABSENT and may_store(value):
                    return await self._append_stored(run_id, expected_seq, events)
        return await self.inner.append(run_id, expected_seq, events)  # written as given

    async def _append_stored(self, run_id: str, expected_seq: int, events: Sequence[NewEvent]) -> list[Event]:
        """`append` of a batch with a payload `store` may change."""
        stored: list[NewEvent] | None = None  # copied at the first payload stored otherwise
        for i, e in enumerate(events):
            field = self._field_to_store(e.type, e.payload)
            if field is not None:
                payload = await self._stored(run_id, e.type, e.correlation_id, e.payload, field)
                if payload is not e.payload:
                    stored = list(events) if stored is None else stored
                    stored[i] = msgspec.structs.replace(e, payload=payload)
        if stored is None:
            return await self.inner.append(run_id, expected_seq, events)  # written as given
        written = await self.inner.append(run_id, expected_seq, stored)
        # The caller gets back what it gave, as written (its seq).
        return [msgspec.structs.replace(w, payload=e.payload) for w, e in zip(written, events, strict=True)]

    async def read_events(self, run_id: str, after_seq: int = -1, limit: int | None = None) -> list[Event]:
        events = await self.inner.read_events(run_id, after_seq, limit)
        return [await self._load_event(e) if self._field_to_load(e.type, e.payload) else e for e in events]

    async def get_run(self, run_id: str) -> RunInfo | None:
        return await self._load_run(await self.inner.get_run(run_id))

    async def list_runs(self, **filters: Any) -> Page:
        page = await self.inner.list_runs(**filters)
        return Page([await self._load_run(r) for r in page.items], page.next_cursor)

    async def stream_append(
        self, run_id: str, namespace: str, chunks: Sequence[bytes], *, attempt: str | None = None
    ) -> int:
        stored = [self.store_chunk(run_id, namespace, c) for c in chunks]
        return await self.inner.stream_append(run_id, namespace, stored, attempt=attempt)

    def _load_chunk(self, run_id: str, namespace: str, chunk: StreamChunk) -> StreamChunk:
        if chunk.rollback is not None:
            return chunk
        data = self.load_chunk(run_id, namespace, chunk.data)
        return chunk if data is chunk.data else msgspec.structs.replace(chunk, data=data)

    async def stream_read(
        self, run_id: str, namespace: str, start: int = 0, limit: int = 1000
    ) -> tuple[list[StreamChunk], bool]:
        chunks, closed = await self.inner.stream_read(run_id, namespace, start, limit)
        return [self._load_chunk(run_id, namespace, c) for c in chunks], closed

    def stream_follow(self, run_id: str, namespace: str, start: int = 0) -> AsyncIterator[StreamChunk]:
        return self._follow(run_id, namespace, start)

    async def _follow(self, run_id: str, namespace: str, start: int) -> AsyncIterator[StreamChunk]:
        async for chunk in self.inner.stream_follow(run_id, namespace, start):
            yield self._load_chunk(run_id, namespace, chunk)
