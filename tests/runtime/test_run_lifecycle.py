"""Shortcuts of a run's set-up give what the plain code gives."""

from __future__ import annotations

import hashlib
import hmac

import pytest

from wdk.runtime import instance
from wdk.runtime.instance import run_secret


@pytest.mark.parametrize("length", [0, 1, 32, 63, 64, 65, 200])
def test_run_secret_is_the_hmac_of_the_seed(length: int) -> None:
    secret = bytes(range(256))[:length]
    for seed in (b"", b"9f2c1a7b0d4e6f81", "ü".encode() * 50):
        # Twice: the cached pads are copied, never used up.
        for _ in range(2):
            assert run_secret(secret, seed) == hmac.new(secret, seed, hashlib.sha256).hexdigest().encode()


def test_the_pads_kept_per_secret_are_bounded() -> None:
    for i in range(40):
        secret = i.to_bytes(4, "big")
        assert run_secret(secret, b"s") == hmac.new(secret, b"s", hashlib.sha256).hexdigest().encode()
    assert len(instance._hmac_pads) <= 16
