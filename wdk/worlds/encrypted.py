"""Any world, with its payloads encrypted at rest (WDK_ENCRYPTION_KEYS).

    world = EncryptedWorld(LocalWorld(".wdk"), KeyRing.parse(keys))

It seals what carries user data before the inner world stores it, and opens
it on the way back, so the runtime and the worlds never change: run inputs
and results, step inputs and results, hook payloads (webhook requests too)
and stream chunks. Names, ids, statuses, times, errors and hook metadata
stay clear, for listing. The associated data of a payload is its run id,
event type, correlation id and field (`run_id\\0type\\0correlation\\0field`);
a stream chunk's is its run id and namespace.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from typing import Any

import msgspec

from wdk.crypto import KeyRing, is_sealed
from wdk.worlds.base import Event, Lease, NewEvent, NewRun, Page, RunInfo, StreamChunk, World

__all__ = ["SEALED_FIELDS", "EncryptedWorld"]

# The payload fields that carry user data, by event type.
SEALED_FIELDS: dict[str, str] = {
    "run_created": "input",
    "step_created": "input",
    "step_completed": "result",
    "run_completed": "result",
    "hook_received": "payload",
}
_JSON = msgspec.json.Encoder()
_DECODE = msgspec.json.Decoder()


def _aad(run_id: str, kind: str, correlation_id: str | None, field: str) -> str:
    return f"{run_id}\0{kind}\0{correlation_id or ''}\0{field}"


class EncryptedWorld:
    """A World that seals payloads into `inner` and opens them out of it."""

    def __init__(self, inner: World, ring: KeyRing) -> None:
        self.inner = inner
        self.ring = ring
        self.name = inner.name

    def __repr__(self) -> str:
        return f"EncryptedWorld({self.inner!r}, active key {self.ring.active!r})"

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)  # everything without user data

    # --- sealing ---------------------------------------------------------------------

    def _seal_payload(self, run_id: str, kind: str, corr: str | None, payload: dict[str, Any]) -> dict[str, Any]:
        field = SEALED_FIELDS.get(kind)
        if field is None or field not in payload or is_sealed(payload[field]):
            return payload
        sealed = self.ring.seal(run_id, _aad(run_id, kind, corr, field), _JSON.encode(payload[field]))
        return {**payload, field: sealed}

    def _open_payload(self, run_id: str, kind: str, corr: str | None, payload: dict[str, Any]) -> dict[str, Any]:
        field = SEALED_FIELDS.get(kind)
        if field is None or not is_sealed(payload.get(field)):
            return payload
        plain = self.ring.open(run_id, _aad(run_id, kind, corr, field), payload[field])
        return {**payload, field: _DECODE.decode(plain)}

    def _open_event(self, e: Event) -> Event:
        payload = self._open_payload(e.run_id, e.type, e.correlation_id, e.payload)
        return e if payload is e.payload else msgspec.structs.replace(e, payload=payload)

    def _open_run(self, run: RunInfo | None) -> RunInfo | None:
        if run is None or not is_sealed(run.output):
            return run
        plain = self.ring.open(run.id, _aad(run.id, "run_completed", None, "result"), run.output)
        return msgspec.structs.replace(run, output=_DECODE.decode(plain))

    def _seal_run(self, run: NewRun) -> NewRun:
        return msgspec.structs.replace(run, payload=self._seal_payload(run.run_id, "run_created", None, run.payload))

    def _seal_chunk(self, run_id: str, namespace: str, data: bytes) -> bytes:
        return _JSON.encode(self.ring.seal(run_id, f"{run_id}\0stream\0{namespace}", data))

    def _open_chunk(self, run_id: str, namespace: str, chunk: StreamChunk) -> StreamChunk:
        if chunk.rollback is not None or not chunk.data.startswith(b'{"$wdk":"encrypted"'):
            return chunk
        data = self.ring.open(run_id, f"{run_id}\0stream\0{namespace}", _DECODE.decode(chunk.data))
        return msgspec.structs.replace(chunk, data=data)

    # --- what carries payloads -------------------------------------------------------------

    async def create_run(self, run: NewRun) -> tuple[RunInfo, bool]:
        info, created = await self.inner.create_run(self._seal_run(run))
        return self._open_run(info) or info, created

    async def start_run(
        self, run: NewRun, queue: str, *, owner: str | None = None, lease_for: float = 30.0
    ) -> tuple[RunInfo, bool, Lease | None]:
        info, created, lease = await self.inner.start_run(self._seal_run(run), queue, owner=owner, lease_for=lease_for)
        return self._open_run(info) or info, created, lease

    async def append(self, run_id: str, expected_seq: int, events: Sequence[NewEvent]) -> list[Event]:
        sealed = [
            msgspec.structs.replace(e, payload=self._seal_payload(run_id, e.type, e.correlation_id, e.payload))
            if e.type in SEALED_FIELDS else e
            for e in events
        ]
        stored = await self.inner.append(run_id, expected_seq, sealed)
        # The caller gets back what it gave, as stored (seq), in the clear.
        return [msgspec.structs.replace(s, payload=e.payload) for s, e in zip(stored, events, strict=True)]

    async def read_events(self, run_id: str, after_seq: int = -1, limit: int | None = None) -> list[Event]:
        return [self._open_event(e) for e in await self.inner.read_events(run_id, after_seq, limit)]

    async def get_run(self, run_id: str) -> RunInfo | None:
        return self._open_run(await self.inner.get_run(run_id))

    async def list_runs(self, **filters: Any) -> Page:
        page = await self.inner.list_runs(**filters)
        return Page([self._open_run(r) for r in page.items], page.next_cursor)

    async def stream_append(
        self, run_id: str, namespace: str, chunks: Sequence[bytes], *, attempt: str | None = None
    ) -> int:
        sealed = [self._seal_chunk(run_id, namespace, c) for c in chunks]
        return await self.inner.stream_append(run_id, namespace, sealed, attempt=attempt)

    async def stream_read(
        self, run_id: str, namespace: str, start: int = 0, limit: int = 1000
    ) -> tuple[list[StreamChunk], bool]:
        chunks, closed = await self.inner.stream_read(run_id, namespace, start, limit)
        return [self._open_chunk(run_id, namespace, c) for c in chunks], closed

    def stream_follow(self, run_id: str, namespace: str, start: int = 0) -> AsyncIterator[StreamChunk]:
        return self._follow(run_id, namespace, start)

    async def _follow(self, run_id: str, namespace: str, start: int) -> AsyncIterator[StreamChunk]:
        async for chunk in self.inner.stream_follow(run_id, namespace, start):
            yield self._open_chunk(run_id, namespace, chunk)
