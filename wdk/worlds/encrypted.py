"""Any world, with its payloads encrypted at rest (WDK_ENCRYPTION_KEYS).

    world = EncryptedWorld(LocalWorld(".wdk"), KeyRing.parse(keys))

It seals what carries user data before the inner world stores it and opens
it on the way back (`wdk.worlds.wrapping`), so neither the runtime nor the
worlds change: run inputs and results, step inputs and results, hook
payloads (webhook requests too), stream chunks, and the large values stored
once (`wdk.worlds.blobs`). Names, ids, statuses, times, errors and hook
metadata stay clear, for listing. The associated data of a field is its run
id, event type, correlation id and field name (`run\\0type\\0correlation\\0field`;
a debounced start's input: its debounce key, as it may become an earlier run's);
of a chunk, its run id and namespace; of a large value, its run id and id.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import msgspec

from wdk.crypto import KeyRing, is_sealed
from wdk.worlds.base import NewRun, World
from wdk.worlds.wrapping import PAYLOAD_FIELDS, PayloadWorld

__all__ = ["EncryptedWorld"]

_JSON = msgspec.json.Encoder()
_DECODE = msgspec.json.Decoder()
_SEALED_CHUNK = b'{"$wdk":"encrypted"'


def _aad(run_id: str, kind: str, correlation_id: str | None, field: str) -> str:
    return f"{run_id}\0{kind}\0{correlation_id or ''}\0{field}"


_DEBOUNCE = "debounce:"  # the key context of a debounced start's input, instead of a run id


def _debounce_aad(key: str) -> str:
    return f"{_DEBOUNCE}{key}\0run_created\0\0input"


class EncryptedWorld(PayloadWorld):
    """A World that seals payloads into `inner` and opens them out of it."""

    def __init__(self, inner: World, ring: KeyRing) -> None:
        super().__init__(inner)
        self.ring = ring

    def __repr__(self) -> str:
        return f"EncryptedWorld({self.inner!r}, active key {self.ring.active!r})"

    async def store(self, run_id: str, kind: str, correlation_id: str | None, field: str, value: Any) -> Any:
        if is_sealed(value):
            return value
        return self.ring.seal(run_id, _aad(run_id, kind, correlation_id, field), _JSON.encode(value))

    def is_stored_form(self, value: Any) -> bool:
        return is_sealed(value)

    async def load(self, run_id: str, kind: str, correlation_id: str | None, field: str, value: Any) -> Any:
        if not is_sealed(value):
            return value
        if "d" in value:  # a debounced start's input (store_debounced)
            key = str(value["d"])
            return _DECODE.decode(self.ring.open(_DEBOUNCE + key, _debounce_aad(key), value))
        return _DECODE.decode(self.ring.open(run_id, _aad(run_id, kind, correlation_id, field), value))

    async def store_debounced(self, run: NewRun, key: str) -> NewRun:
        # Bound to the debounce key, not the run: the payload may become an
        # earlier run's of the same key.
        field = PAYLOAD_FIELDS["run_created"]
        if field not in run.payload or is_sealed(run.payload[field]):
            return run
        sealed = self.ring.seal(_DEBOUNCE + key, _debounce_aad(key), _JSON.encode(run.payload[field]))
        return msgspec.structs.replace(run, payload={**run.payload, field: {**sealed, "d": key}})

    def store_chunk(self, run_id: str, namespace: str, data: bytes) -> bytes:
        return _JSON.encode(self.ring.seal(run_id, f"{run_id}\0stream\0{namespace}", data))

    def load_chunk(self, run_id: str, namespace: str, data: bytes) -> bytes:
        if not data.startswith(_SEALED_CHUNK):
            return data
        return self.ring.open(run_id, f"{run_id}\0stream\0{namespace}", _DECODE.decode(data))

    async def put_blobs(self, run_id: str, blobs: Mapping[str, bytes]) -> None:
        sealed = {i: _JSON.encode(self.ring.seal(run_id, f"{run_id}\0blob\0{i}", data)) for i, data in blobs.items()}
        await self.inner.put_blobs(run_id, sealed)

    async def get_blobs(self, run_id: str, ids: Sequence[str]) -> dict[str, bytes]:
        found = await self.inner.get_blobs(run_id, ids)
        return {i: self.ring.open(run_id, f"{run_id}\0blob\0{i}", _DECODE.decode(data)) for i, data in found.items()}
