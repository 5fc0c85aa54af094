"""HMAC-SHA256 request signatures for the flow and step endpoints.

The signer sends `x-wdk-signature: sha256=<hex of HMAC(secret, body)>`; the
server compares in constant time. The secret is WDK_SECRET; a server started
without one makes its own (and tells no one), so only in-process callers
(`sign(body, app_secret)`) can use those endpoints.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

from wdk.settings import current_settings

HEADER = "x-wdk-signature"
PREFIX = "sha256="


def load_secret() -> tuple[str, bool]:
    """(secret, generated): WDK_SECRET (or `configure(secret=...)`), or a fresh random one."""
    secret = current_settings().secret
    if secret:
        return secret, False
    return secrets.token_hex(32), True


def sign(body: bytes, secret: str) -> str:
    """The header value for `body`."""
    return PREFIX + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def verify(body: bytes, header: str | None, secret: str) -> bool:
    if not header:
        return False
    value = header.strip()
    if not value.startswith(PREFIX):
        return False
    return hmac.compare_digest(value.encode(errors="replace"), sign(body, secret).encode())
