"""Payload encryption at rest: AES-256-GCM with a key per run (`pip install 'wdk[crypto]'`).

    ring = KeyRing.parse("k2:<base64 32 bytes>,k1:<base64 32 bytes>")   # WDK_ENCRYPTION_KEYS
    sealed = ring.seal(run_id, aad, b'{"card": "4111..."}')           # a tagged dict, JSON-safe
    ring.open(run_id, aad, sealed)                                      # the bytes again

The first key of the ring is the active one (new payloads); the others only
open what they sealed, found by the key id stored with each payload. A run's
key is HKDF-SHA256(master key, info="wdk run key v1:" + run id). The
associated data names where the payload belongs (run id, event type,
correlation id, field), so a payload copied to another event, run or field
fails authentication like a flipped byte does.

A sealed value is `{"$wdk": "encrypted", "k": key id, "v": base64(nonce || ciphertext)}`:
a serde tag, so a process without the keys stops at it with an error naming
the key id instead of reading it as data.
"""

from __future__ import annotations

import base64
import binascii
import functools
import os
from typing import Any

from wdk.errors import EncryptionError

__all__ = ["ENCRYPTED", "EncryptionError", "KeyRing", "is_sealed", "key_id_of"]

ENCRYPTED = "encrypted"  # the serde tag of a sealed value
_TAG = "$wdk"
_NONCE = 12


def is_sealed(value: Any) -> bool:
    return isinstance(value, dict) and value.get(_TAG) == ENCRYPTED


def key_id_of(value: dict[str, Any]) -> str:
    return str(value.get("k", "?"))


def _aesgcm() -> Any:
    try:
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM
    except ImportError:
        raise ImportError(
            "WDK_ENCRYPTION_KEYS needs the cryptography package: pip install 'wdk[crypto]'"
        ) from None
    return AESGCM


class KeyRing:
    """Master keys by id; the first is the one new payloads are sealed with."""

    def __init__(self, keys: list[tuple[str, bytes]]) -> None:
        if not keys:
            raise EncryptionError("WDK_ENCRYPTION_KEYS has no key")
        self.active = keys[0][0]
        self.keys = dict(keys)
        self._aead = _aesgcm()

    @classmethod
    def parse(cls, text: str) -> KeyRing:
        """'k2:<base64>,k1:<base64>': each key 32 bytes, base64 (standard or urlsafe)."""
        keys: list[tuple[str, bytes]] = []
        for item in (part.strip() for part in text.split(",")):
            if not item:
                continue
            key_id, sep, encoded = item.partition(":")
            key_id = key_id.strip()
            if not sep or not key_id:
                raise EncryptionError("WDK_ENCRYPTION_KEYS: each key is 'id:<base64 of 32 bytes>'")
            try:
                raw = base64.b64decode(encoded.strip().replace("-", "+").replace("_", "/"), validate=True)
            except (binascii.Error, ValueError):
                raise EncryptionError(f"WDK_ENCRYPTION_KEYS: key {key_id!r} is not base64") from None
            if len(raw) != 32:
                raise EncryptionError(f"WDK_ENCRYPTION_KEYS: key {key_id!r} has {len(raw)} bytes, not 32")
            if any(k == key_id for k, _ in keys):
                raise EncryptionError(f"WDK_ENCRYPTION_KEYS: key id {key_id!r} appears twice")
            keys.append((key_id, raw))
        return cls(keys)

    @staticmethod
    def new_key() -> str:
        """A fresh key, base64 (for WDK_ENCRYPTION_KEYS)."""
        return base64.b64encode(os.urandom(32)).decode()

    @functools.lru_cache(maxsize=4096)  # noqa: B019 - one ring per runtime, keys by (key id, run)
    def _cipher(self, key_id: str, run_id: str) -> Any:
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.kdf.hkdf import HKDF

        master = self.keys.get(key_id)
        if master is None:
            raise EncryptionError(
                f"a payload of run {run_id} is encrypted with key {key_id!r}, which is not in "
                f"WDK_ENCRYPTION_KEYS (it has {', '.join(self.keys)})"
            )
        run_key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None,
                       info=b"wdk run key v1:" + run_id.encode()).derive(master)
        return self._aead(run_key)

    def seal(self, run_id: str, aad: str, plaintext: bytes) -> dict[str, Any]:
        nonce = os.urandom(_NONCE)
        sealed = self._cipher(self.active, run_id).encrypt(nonce, plaintext, aad.encode())
        return {_TAG: ENCRYPTED, "k": self.active, "v": base64.b64encode(nonce + sealed).decode()}

    def open(self, run_id: str, aad: str, value: dict[str, Any]) -> bytes:
        from cryptography.exceptions import InvalidTag

        cipher = self._cipher(key_id_of(value), run_id)
        try:
            raw = base64.b64decode(str(value.get("v", "")), validate=True)
            return bytes(cipher.decrypt(raw[:_NONCE], raw[_NONCE:], aad.encode()))
        except (InvalidTag, binascii.Error, ValueError):
            raise EncryptionError(
                f"a payload of run {run_id} ({aad.split(chr(0))[1:3]}) failed authentication: "
                "it was altered or moved from another event"
            ) from None
