"""Who may call `wdk serve` and `wdk web`: the one place that decides.

    app = web.Application(middlewares=[guard, error_edge])
    app[AUTH] = make_auth(token)        # WDK_API_TOKEN, or load_api_token()'s generated one

Every request passes `guard` first:

- `PUBLIC_PATHS` (health, /metrics) answer anyone: they reveal no run data.
- Webhook URLs carry their own credential (the token in the URL) and the
  signed flow/step endpoints theirs (`wdk.server.signing`): no API token.
- Everything else (the JSON API, the run streams, the UI) needs the API
  token: `Authorization: Bearer <token>`, or the UI's session cookie, which
  `GET /?token=<token>` sets (as Jupyter's login URL does).

Cross-site requests are refused before any handler runs (a web page a
developer visits must not start or cancel runs): a `Host` that is not this
server's (DNS rebinding), an `Origin` of another site, `Sec-Fetch-Site:
cross-site`, a POST to the API that is not JSON, and a state-changing UI
request without its session's CSRF token (`x-wdk-csrf`). A client that
sends too many wrong tokens gets 429 for a while (`Auth.guesses`).
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import secrets
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from aiohttp import web

from wdk.protocol import HEALTH_PATH, WEBHOOK_PATH, WELL_KNOWN, error_body
from wdk.server.edge import Handler, json_response
from wdk.server.ratelimit import GuessLimit
from wdk.settings import current_settings

__all__ = [
    "AUTH",
    "CSRF_HEADER",
    "PUBLIC_PATHS",
    "SESSION_COOKIE",
    "Auth",
    "guard",
    "load_api_token",
    "login_url",
    "make_auth",
    "set_bind_host",
]

# The one list of paths that need no credential at all. Keep it to endpoints
# that reveal counts and health, never run data.
PUBLIC_PATHS = frozenset({HEALTH_PATH, "/metrics"})
# Paths with their own credential: the webhook token in the URL, the signature.
SIGNED_PATHS = frozenset({WELL_KNOWN + "/flow", WELL_KNOWN + "/step"})

SESSION_COOKIE = "wdk_session"
WRONG_TOKENS_PER_MINUTE = 100
CSRF_HEADER = "x-wdk-csrf"
_LOGIN_PAGE = (
    "<!doctype html><title>wdk</title><p>This page needs its token: open the login URL that "
    "<code>wdk web</code> (or <code>wdk serve</code>) printed when it started, "
    "<code>http://HOST:PORT/?token=...</code> (the token is WDK_API_TOKEN).</p>"
)
_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "::1"})


def load_api_token() -> tuple[str, bool]:
    """(token, generated): WDK_API_TOKEN, or a fresh random one to print once."""
    token = current_settings().api_token
    if token:
        return token, False
    return secrets.token_urlsafe(24), True


def login_url(base_url: str, token: str) -> str:
    """The URL that logs a browser in (printed by `wdk serve`/`wdk web`)."""
    return f"{base_url.rstrip('/')}/?token={token}"


@dataclass
class Auth:
    """The API token and the Host names this server answers to."""

    token: str
    allowed_hosts: frozenset[str] = field(default_factory=frozenset)  # lower-case; empty: see host_ok
    loopback_only: bool = True  # bound to a loopback address: only loopback Host names
    # Wrong tokens per client: guessing the API token answers 429 (as webhooks do).
    guesses: GuessLimit = field(default_factory=lambda: GuessLimit(WRONG_TOKENS_PER_MINUTE))

    def bearer_ok(self, header: str | None) -> bool:
        if not header or not header[:7].lower() == "bearer ":
            return False
        return hmac.compare_digest(header[7:].strip().encode(errors="replace"), self.token.encode())

    def _mac(self, purpose: str, nonce: str) -> str:
        return hmac.new(self.token.encode(), f"{purpose}:{nonce}".encode(), hashlib.sha256).hexdigest()

    def new_session(self) -> str:
        """A cookie value: a nonce and its MAC (stateless: a new API token ends every session)."""
        nonce = secrets.token_hex(16)
        return f"{nonce}.{self._mac('session', nonce)}"

    def session_nonce(self, cookie: str | None) -> str | None:
        if not cookie or "." not in cookie:
            return None
        nonce, _, mac = cookie.partition(".")
        ok = hmac.compare_digest(mac.encode(errors="replace"), self._mac("session", nonce).encode())
        return nonce if ok else None

    def csrf_for(self, nonce: str) -> str:
        return self._mac("csrf", nonce)

    def origin_listed(self, origin: str) -> bool:
        """An Origin named in WDK_ALLOWED_HOSTS (a proxy that rewrites Host)."""
        try:
            name = urlsplit(origin).hostname
        except ValueError:
            return False
        return name is not None and name.lower() in self.allowed_hosts

    def host_ok(self, host: str) -> bool:
        name = _hostname(host)
        if name is None:
            return False
        if self.allowed_hosts:
            return "*" in self.allowed_hosts or name in self.allowed_hosts
        if self.loopback_only:
            return name in _LOOPBACK_NAMES or name.endswith(".localhost")
        return True


AUTH: web.AppKey[Auth] = web.AppKey("auth", Auth)


def make_auth(token: str, bind_host: str = "127.0.0.1") -> Auth:
    hosts = frozenset(h.lower() for h in current_settings().allowed_hosts)
    return Auth(token, hosts, _is_loopback(bind_host))


def set_bind_host(app: web.Application, host: str) -> None:
    """Where the app listens decides which Host names it answers (see Auth.host_ok)."""
    if AUTH in app:
        app[AUTH].loopback_only = _is_loopback(host)


def _is_loopback(host: str) -> bool:
    if host in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _hostname(host: str) -> str | None:
    """'example.com:3000' -> 'example.com'; '[::1]:3000' -> '::1'; None when malformed."""
    try:
        name = urlsplit(f"//{host}").hostname
    except ValueError:
        return None
    return name.lower() if name else None


def _refuse(status: int, message: str, kind: str) -> web.Response:
    resp = json_response(error_body(message, kind), status=status)
    if status == 401:
        resp.headers["www-authenticate"] = 'Bearer realm="wdk"'
    return resp


def check(request: web.Request, auth: Auth) -> web.StreamResponse | None:
    """The refusal for `request`, or None when it may go on to its handler."""
    path = request.path
    if path in PUBLIC_PATHS:
        return None
    if path.startswith(WEBHOOK_PATH) or path in SIGNED_PATHS:
        return None  # their own credential; webhooks are called by other sites on purpose
    if not auth.host_ok(request.host):
        return _refuse(403, f"this server does not answer to Host {request.host!r} (WDK_ALLOWED_HOSTS)",
                       "Forbidden")
    origin = request.headers.get("origin")
    if origin is not None and not (_same_origin(origin, request.host) or auth.origin_listed(origin)):
        return _refuse(403, f"cross-site request from {origin!r} refused", "Forbidden")
    if request.headers.get("sec-fetch-site", "") == "cross-site":
        return _refuse(403, "cross-site request refused", "Forbidden")
    if auth.bearer_ok(request.headers.get("authorization")):
        # No page can attach this header cross-site: a body-less POST (cancel) may go.
        return _content_type(request) if request.body_exists else None
    nonce = auth.session_nonce(request.cookies.get(SESSION_COOKIE))
    if nonce is None:
        if request.path == "/" and request.method == "GET":
            return web.Response(status=401, text=_LOGIN_PAGE, content_type="text/html")
        return _refuse(401, "this server needs its API token: Authorization: Bearer <WDK_API_TOKEN>, "
                            "or open the login URL it printed", "Unauthorized")
    if request.method not in _SAFE_METHODS:
        sent = request.headers.get(CSRF_HEADER, "")
        if not hmac.compare_digest(sent.encode(errors="replace"), auth.csrf_for(nonce).encode()):
            return _refuse(403, f"missing or bad {CSRF_HEADER} (reload the page)", "Forbidden")
    return _content_type(request)


def _same_origin(origin: str, host: str) -> bool:
    try:
        parts = urlsplit(origin)
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and parts.netloc.lower() == host.lower()


def _content_type(request: web.Request) -> web.StreamResponse | None:
    """A POST to the API must be JSON: a form or text/plain body is what a
    cross-site page can send without asking."""
    if request.method == "POST" and request.path.startswith("/api/") and request.content_type != "application/json":
        return _refuse(415, "the body must be application/json", "UnsupportedMediaType")
    return None


def _login(request: web.Request, auth: Auth) -> web.StreamResponse | None:
    """`GET /?token=...`: set the session cookie and drop the token from the address bar."""
    token = request.query.get("token")
    if request.method != "GET" or request.path != "/" or token is None:
        return None
    if not hmac.compare_digest(token.encode(errors="replace"), auth.token.encode()):
        return _refuse(401, "wrong token", "Unauthorized")
    if not auth.host_ok(request.host):
        return None  # check() answers 403
    resp = web.Response(status=303, headers={"location": "/"})
    resp.set_cookie(SESSION_COOKIE, auth.new_session(), httponly=True, samesite="Strict", path="/",
                    secure=request.secure)
    return resp


def _presents_credential(request: web.Request) -> bool:
    return (
        "authorization" in request.headers
        or SESSION_COOKIE in request.cookies
        or (request.path == "/" and "token" in request.query)
    )


@web.middleware
async def guard(request: web.Request, handler: Handler) -> web.StreamResponse:
    auth = request.app[AUTH]
    client = request.remote or "?"
    path = request.path
    own_credential = path in PUBLIC_PATHS or path in SIGNED_PATHS or path.startswith(WEBHOOK_PATH)
    guessing = not own_credential and _presents_credential(request)
    if guessing and (wait := auth.guesses.wait(client)) is not None:
        # Right or wrong, the same answer: a guesser learns nothing until it may try again.
        resp = _refuse(429, "too many wrong API tokens from this client", "TooManyRequests")
        resp.headers["retry-after"] = str(max(1, round(wait)))
        return resp
    refused = _login(request, auth) or check(request, auth)
    if refused is not None:
        if guessing and refused.status == 401:
            auth.guesses.miss(client)
        return refused
    return await handler(request)
