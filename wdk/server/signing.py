"""HMAC-SHA256 request signatures for the flow and step endpoints, which
cannot be replayed.

    x-wdk-signature: t=<unix seconds>,n=<nonce>,sha256=<hex of HMAC(secret, "t.n." + body)>

The server compares in constant time, refuses a timestamp more than
`MAX_SKEW` seconds from its clock, and remembers each nonce it accepted
until its timestamp is stale: the same signed request sent twice is refused
the second time. The secret is WDK_SECRET; a server started without one
makes its own (and tells no one), so only in-process callers
(`sign(body, app_secret)`) can use those endpoints.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from collections import OrderedDict

from wdk.settings import current_settings

HEADER = "x-wdk-signature"
PREFIX = "sha256="
MAX_SKEW = 300.0  # seconds a signature stays valid (either way: clocks differ)
MAX_NONCES = 100_000  # remembered at once; past this the oldest are dropped early


def load_secret() -> tuple[str, bool]:
    """(secret, generated): WDK_SECRET (or `configure(secret=...)`), or a fresh random one."""
    secret = current_settings().secret
    if secret:
        return secret, False
    return secrets.token_hex(32), True


def _mac(secret: str, timestamp: str, nonce: str, body: bytes) -> str:
    signed = f"{timestamp}.{nonce}.".encode() + body
    return hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()


def sign(body: bytes, secret: str, *, timestamp: float | None = None, nonce: str | None = None) -> str:
    """The header value for `body`, good once, for MAX_SKEW seconds."""
    t = str(int(time.time() if timestamp is None else timestamp))
    n = nonce or secrets.token_hex(16)
    return f"t={t},n={n},{PREFIX}{_mac(secret, t, n, body)}"


class Verifier:
    """Checks signatures and remembers the nonces it accepted (one per server)."""

    def __init__(self, secret: str) -> None:
        self.secret = secret
        self._seen: OrderedDict[str, float] = OrderedDict()  # nonce -> when it goes stale

    def verify(self, body: bytes, header: str | None, now: float | None = None) -> str | None:
        """None when `header` signs `body` and was not used before, else why not."""
        now = time.time() if now is None else now
        fields = _parse(header)
        if fields is None:
            return f"missing or malformed {HEADER} (t=<unix time>,n=<nonce>,sha256=<HMAC>)"
        t, n, mac = fields
        if not hmac.compare_digest(mac.encode(errors="replace"), _mac(self.secret, t, n, body).encode()):
            return f"bad {HEADER} (HMAC-SHA256 of 't.n.' + body with WDK_SECRET)"
        if abs(now - int(t)) > MAX_SKEW:
            return f"stale {HEADER}: its time is more than {MAX_SKEW:g} s from the server's"
        self._forget(now)
        if n in self._seen:
            return f"replayed {HEADER}: this nonce was used already"
        self._seen[n] = int(t) + MAX_SKEW
        return None

    def _forget(self, now: float) -> None:
        while self._seen:
            nonce, stale_at = next(iter(self._seen.items()))
            if stale_at >= now and len(self._seen) < MAX_NONCES:
                return
            del self._seen[nonce]


def _parse(header: str | None) -> tuple[str, str, str] | None:
    if not header:
        return None
    parts = dict(p.strip().partition("=")[::2] for p in header.split(","))
    t, n, mac = parts.get("t", ""), parts.get("n", ""), parts.get("sha256", "")
    if not (t.isdigit() and len(t) <= 12 and 8 <= len(n) <= 128 and n.isascii() and mac):
        return None
    return t, n, mac
