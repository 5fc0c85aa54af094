"""Large values stored once per run, whatever events they appear in.

    world = BlobWorld(LocalWorld(".wdk"))

A run that passes its 8 MiB input to a step and returns the step's result
holds that value in five places: the run's input, the step's input, the
step's result, the run's result and the run's `output`. Here each string of
at least `BLOB_MIN` characters in a payload field (`wdk.worlds.wrapping`;
bytes are a base64 string in serde's form) is stored once per run
(`World.put_blobs`) under a keyed hash of its content, and the field holds
`{"$wdk": "blob", "id": ...}` in its place, inside `{"$wdk": "blobs", "v": ...}`
so a reader knows at a glance whether to look. Reading puts the values back.

The id is HMAC-SHA256(store secret, run id, value): equal values share one
row, and a reader of the events alone learns nothing from it.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Any

import msgspec

from wdk.errors import WorldError
from wdk.worlds.base import World
from wdk.worlds.wrapping import PayloadWorld

__all__ = ["BLOB_MIN", "BlobWorld"]

BLOB_MIN = 64 << 10  # characters: smaller strings stay in their event
_TAG = "$wdk"
_JSON = msgspec.json.Encoder()


class BlobWorld(PayloadWorld):
    """A World whose large payload strings are stored once per run."""

    def __init__(self, inner: World) -> None:
        super().__init__(inner)
        self._secret: bytes | None = None

    def __repr__(self) -> str:
        return f"BlobWorld({self.inner!r})"

    async def _id(self, run_id: str, text: str) -> str:
        if self._secret is None:
            self._secret = await self.inner.store_secret()
        mac = hmac.new(self._secret, run_id.encode() + b"\0", hashlib.sha256)
        mac.update(text.encode("utf-8", "surrogatepass"))
        return mac.hexdigest()

    def may_store(self, value: Any) -> bool:
        kind = type(value)
        if kind is int or kind is float or kind is bool or value is None:
            return False
        if kind is str:
            return len(value) >= BLOB_MIN
        return len(_JSON.encode(value)) >= BLOB_MIN  # C speed: most payloads stop here

    async def store(self, run_id: str, kind: str, correlation_id: str | None, field: str, value: Any) -> Any:
        if not self.may_store(value):
            return value
        blobs: dict[str, bytes] = {}

        async def out(node: Any) -> Any:
            if isinstance(node, str) and len(node) >= BLOB_MIN:
                blob_id = await self._id(run_id, node)
                blobs[blob_id] = node.encode("utf-8", "surrogatepass")
                return {_TAG: "blob", "id": blob_id}
            if isinstance(node, list):
                return [await out(x) for x in node]
            if isinstance(node, dict):
                return {k: await out(v) for k, v in node.items()}
            return node

        replaced = await out(value)
        if not blobs:
            return value
        await self.inner.put_blobs(run_id, blobs)
        return {_TAG: "blobs", "v": replaced}

    def is_stored_form(self, value: Any) -> bool:
        return isinstance(value, dict) and value.get(_TAG) == "blobs"

    async def load(self, run_id: str, kind: str, correlation_id: str | None, field: str, value: Any) -> Any:
        if not self.is_stored_form(value):
            return value
        ids: list[str] = []
        _collect(value["v"], ids)
        found = await self.inner.get_blobs(run_id, ids)
        missing = [i for i in ids if i not in found]
        if missing:
            raise WorldError(f"run {run_id}: a large value of its {kind} event is missing from the store ({missing[0]})")
        texts = {i: data.decode("utf-8", "surrogatepass") for i, data in found.items()}
        return _restore(value["v"], texts)


def _is_ref(node: Any) -> bool:
    return isinstance(node, dict) and node.get(_TAG) == "blob" and len(node) == 2 and "id" in node


def _collect(node: Any, ids: list[str]) -> None:
    stack = [node]
    while stack:
        item = stack.pop()
        if _is_ref(item):
            ids.append(str(item["id"]))
        elif isinstance(item, list):
            stack.extend(item)
        elif isinstance(item, dict):
            stack.extend(item.values())


def _restore(node: Any, texts: dict[str, str]) -> Any:
    if _is_ref(node):
        return texts[str(node["id"])]
    if isinstance(node, list):
        return [_restore(x, texts) for x in node]
    if isinstance(node, dict):
        return {k: _restore(v, texts) for k, v in node.items()}
    return node
