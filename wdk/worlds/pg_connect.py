"""Opening the postgres world: URLs and schema names, connections, the pool,
migrating the schema, and clear errors when any of it fails.

Opening never touches a store it cannot use: a foreign schema, a newer
version, missing rights are refused before anything is written.
"""

from __future__ import annotations

import asyncio
import re
import time
from typing import Any
from urllib.parse import unquote, urlsplit

import asyncpg

from wdk.errors import WorldError, WorldUnavailable
from wdk.settings import current_settings
from wdk.worlds import pg_schema

DEFAULT_SCHEMA = "wdk"
CONNECT_TIMEOUT = 10.0
_SCHEMA_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,47}$")


def resolve_url(url: str | None) -> str:
    """`url`, else the `postgres_url` setting (WDK_POSTGRES_URL); a WorldError when neither is set."""
    chosen = url if url is not None else current_settings().postgres_url
    if not chosen:
        raise WorldError(
            "the postgres world needs a database URL: set WDK_POSTGRES_URL "
            "(e.g. postgresql://user:password@host:5432/dbname) or pass url="
        )
    return chosen


def resolve_schema(schema: str | None) -> str:
    """`schema`, else the `postgres_schema` setting (WDK_POSTGRES_SCHEMA), else "wdk"; a plain identifier only."""
    chosen = schema if schema is not None else current_settings().postgres_schema
    chosen = chosen or DEFAULT_SCHEMA
    if not _SCHEMA_NAME.match(chosen):
        raise ValueError(
            f"postgres schema name {chosen!r} must be letters, digits and _ "
            "(not starting with a digit, at most 48 characters)"
        )
    return chosen


def describe(url: str) -> str:
    """`user@host:port/db` for messages: never the password."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or "localhost"
        port = parts.port or 5432
    except ValueError:
        return "postgres database (unparsable URL)"
    user = unquote(parts.username) + "@" if parts.username else ""
    db = unquote(parts.path.lstrip("/")) or "(default database)"
    return f"{user}{host}:{port}/{db}"


def redact(text: str, url: str) -> str:
    """`text` with the URL's password (if any) blanked out."""
    try:
        password = urlsplit(url).password
    except ValueError:
        password = None
    for secret in {password, unquote(password or "")} - {None, ""}:
        text = text.replace(str(secret), "***")
    return text


CONNECTION_ERRORS: tuple[type[BaseException], ...] = (
    OSError,
    TimeoutError,
    asyncio.TimeoutError,
    asyncpg.InterfaceError,
    # A connection killed mid-call can fail the pool's reset on release this way.
    asyncpg.InternalClientError,
    asyncpg.PostgresConnectionError,
    asyncpg.exceptions.OperatorInterventionError,  # admin shutdown, server starting up
    asyncpg.exceptions.InsufficientResourcesError,  # too many connections
)


def connect_error(exc: BaseException, url: str) -> WorldError:
    """A clear WorldError for a failed connect (bad URL, auth, database, network)."""
    target = describe(url)
    detail = redact(str(exc) or type(exc).__name__, url)
    sqlstate = getattr(exc, "sqlstate", None) or ""
    if sqlstate.startswith("28"):
        why = "the server refused the user name or password"
    elif sqlstate == "3D000":
        why = "the database does not exist"
    elif isinstance(exc, ValueError):
        why = "the URL is not a valid postgresql:// URL"
    elif isinstance(exc, OSError | TimeoutError):
        return WorldUnavailable(f"postgres world: the server is unreachable ({target}): {detail}")
    elif isinstance(exc, CONNECTION_ERRORS):  # dropped mid-handshake, starting up, too busy
        return WorldUnavailable(f"postgres world: the connection failed while opening ({target}): {detail}")
    else:
        why = "cannot connect"
    return WorldError(f"postgres world: {why} ({target}): {detail}")


async def open_pool(
    url: str, schema: str, *, min_size: int, max_size: int, connect_timeout: float
) -> asyncpg.Pool:
    """A pool whose connections see `schema` first, migrated to pg_schema.SCHEMA_VERSION."""
    if not url.startswith(("postgresql://", "postgres://")):
        raise WorldError(
            f"postgres world: the URL must start with postgresql:// ({describe(url)})"
        )
    try:
        pool: asyncpg.Pool = await asyncpg.create_pool(
            url,
            min_size=min_size,
            max_size=max_size,
            timeout=connect_timeout,
            server_settings=server_settings(schema),
            reset=_keep_session,
        )
    except Exception as exc:
        raise connect_error(exc, url) from exc
    try:
        async with pool.acquire() as conn:
            await migrate(conn, schema, url)
    except CONNECTION_ERRORS as exc:  # a connection dropped between connect and migrate
        pool.terminate()
        raise WorldUnavailable(
            f"postgres world: lost the connection to {describe(url)} while opening: "
            f"{redact(str(exc) or type(exc).__name__, url)}"
        ) from exc
    except BaseException:
        pool.terminate()
        raise
    return pool


class KeptPool:
    """asyncpg's pool, with the connections a call gave back kept aside (last
    in, first out) rather than released to it. asyncpg's acquire and release
    are a proxy, a timer and a shielded task per call: 60-140 µs of CPU on the
    reference machine, about a tenth of a sequential step (one call each).
    A connection goes back through the pool's release (which rolls back,
    resets or replaces it) after a failed call, when a caller is waiting for
    one, on close, and when unused for KEEP_IDLE_SECONDS (then the pool's own
    idle timeout closes it, as before); one found closed is handed back and
    the next tried."""

    KEEP_IDLE_SECONDS = 60.0

    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool
        self._kept: list[tuple[asyncpg.Connection, float]] = []  # (connection, kept since), LIFO
        self._waiting = 0  # callers inside pool.acquire(): a kept connection would starve them
        self._closing = False  # pool.close() waits for the connections of calls still running

    async def acquire(self) -> asyncpg.Connection:
        while self._kept:
            kept = self._kept.pop()[0]
            if not kept.is_closed():
                return kept
            await self.pool.release(kept)
        self._waiting += 1
        try:
            conn: asyncpg.Connection = await self.pool.acquire()
        finally:
            self._waiting -= 1
        return conn

    async def release(self, conn: asyncpg.Connection, *, clean: bool) -> None:
        """Keep `conn` for the next call when the call that used it succeeded."""
        if not clean or self._waiting or self._closing or conn.is_closed():
            await self.pool.release(conn)
            return
        now = time.monotonic()
        self._kept.append((conn, now))
        if now - self._kept[0][1] > self.KEEP_IDLE_SECONDS:  # the least recently used one
            await self.pool.release(self._kept.pop(0)[0])

    async def release_kept(self) -> None:
        """Before closing: hand back the kept connections, and those of the calls still running as they end."""
        self._closing = True
        kept, self._kept = self._kept, []
        for conn, _ in kept:
            await self.pool.release(conn)


async def _keep_session(conn: asyncpg.Connection) -> None:
    """The pool's reset on release: nothing to undo. Pooled connections never
    LISTEN, SET, open cursors or take session advisory locks, and asyncpg
    rolls back an open transaction before this. (The default reset query
    is a second round trip and server transaction per call: half of them.)"""


def server_settings(schema: str) -> dict[str, str]:
    # application_name names the schema: an operator can tell the wdk stores apart.
    return {"search_path": f'"{schema}"', "application_name": f"wdk {schema}"}


async def connect(url: str, schema: str, timeout: float) -> asyncpg.Connection:
    """One connection outside the pool (the LISTEN connection)."""
    conn: asyncpg.Connection = await asyncpg.connect(
        url, timeout=timeout, server_settings=server_settings(schema)
    )
    return conn


async def migrate(conn: asyncpg.Connection, schema: str, url: str) -> None:
    """Create or migrate `schema`; processes opening at once migrate it once."""
    where = f"schema {schema!r} of {describe(url)}"
    try:
        async with conn.transaction():
            # The lock lasts until COMMIT: the others wait, then find the work done.
            await conn.execute(
                "SELECT pg_advisory_xact_lock(hashtextextended('wdk migrate ' || $1, 0))", schema
            )
            version = await _check_store(conn, schema, where)
            if version is None:
                await conn.execute(f'CREATE SCHEMA "{schema}"')
                version = 0
            if version == pg_schema.SCHEMA_VERSION:
                return
            await conn.execute(
                "CREATE TABLE IF NOT EXISTS wdk_meta (key text PRIMARY KEY, value text NOT NULL)"
            )
            await conn.execute(
                "CREATE TABLE IF NOT EXISTS wdk_migrations "
                "(version integer PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())"
            )
            for number, statements in enumerate(pg_schema.MIGRATIONS[version:], start=version + 1):
                for sql in statements:
                    await conn.execute(sql)
                await conn.execute("INSERT INTO wdk_migrations (version) VALUES ($1)", number)
            await conn.execute(
                "INSERT INTO wdk_meta (key, value) VALUES ('schema_version', $1) "
                "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                str(pg_schema.SCHEMA_VERSION),
            )
    except asyncpg.InsufficientPrivilegeError as exc:
        raise WorldError(
            f"postgres world: cannot create or migrate {where}: the user lacks the rights "
            f"({exc}); create it once as an owner (open the world as one), or grant CREATE"
        ) from exc
    except CONNECTION_ERRORS as exc:
        raise WorldUnavailable(f"postgres world: connection lost while opening {where}: {exc}") from exc
    except asyncpg.PostgresError as exc:
        raise WorldError(f"postgres world: cannot open {where}: {exc}") from exc


async def _check_store(conn: asyncpg.Connection, schema: str, where: str) -> int | None:
    """The schema's version (0 when empty), None when it does not exist yet."""
    exists = await conn.fetchval("SELECT 1 FROM pg_namespace WHERE nspname = $1", schema)
    if exists is None:
        return None
    tables: list[Any] = await conn.fetch(
        "SELECT tablename FROM pg_tables WHERE schemaname = $1 ORDER BY tablename", schema
    )
    names = [r[0] for r in tables]
    if not names:
        return 0
    if "wdk_meta" not in names:
        raise WorldError(
            f"postgres world: {where} is not a wdk schema: it holds other tables "
            f"({', '.join(names[:5])}); it was left untouched: choose another schema"
        )
    raw = await conn.fetchval("SELECT value FROM wdk_meta WHERE key = 'schema_version'")
    version = int(raw or 0)
    if version > pg_schema.SCHEMA_VERSION:
        raise WorldError(
            f"postgres world: {where} has wdk schema version {version}, but this wdk "
            f"knows only up to version {pg_schema.SCHEMA_VERSION}: upgrade wdk to use it"
        )
    return version
