"""The postgres world's own promises: migrations, bad input, many processes, lost connections.

Each test uses a fresh schema and drops it; all skip (saying why) without a server.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Callable

import pytest
from pg_support import drop_schema, require_postgres, unique_schema
from world_support import ev, new_run, owner

from wdk.errors import ConflictError, WorldError
from wdk.worlds import COMPLETION_TYPES, create_world

asyncpg = pytest.importorskip("asyncpg")

from wdk.worlds import postgres  # noqa: E402
from wdk.worlds.pg_connect import KeptPool, connect_error  # noqa: E402
from wdk.worlds.pg_schema import COMPLETIONS_SQL, SCHEMA_VERSION  # noqa: E402
from wdk.worlds.postgres import PostgresWorld  # noqa: E402

PASSWORD = "s3cr3t-Pw"
# A deadline for what must happen promptly: generous, since a loaded machine
# is slow; a test that would otherwise hang fails here instead.
DEADLINE = 20.0
NEVER = 3600.0  # a timeout or poll interval that no passing test reaches


@pytest.fixture
def no_polling(monkeypatch: pytest.MonkeyPatch) -> None:
    """Waiters poll once an hour: only a NOTIFY (or a message or chunk that is
    there already) ends a wait, so a test that passes saw the NOTIFY work."""
    monkeypatch.setattr(postgres, "QUEUE_POLL_SECONDS", NEVER)
    monkeypatch.setattr(postgres, "STREAM_POLL_SECONDS", NEVER)


@pytest.fixture
async def target() -> AsyncIterator[tuple[str, str]]:
    """(url, schema): a schema name nobody uses, dropped after the test."""
    url, schema = require_postgres(), unique_schema()
    try:
        yield url, schema
    finally:
        await drop_schema(url, schema)


async def opened(url: str, schema: str) -> PostgresWorld:
    world = PostgresWorld(url, schema=schema)
    await world.open()
    return world


async def admin(url: str) -> asyncpg.Connection:
    conn: asyncpg.Connection = await asyncpg.connect(url)
    return conn


def test_completion_literals_match_the_protocol() -> None:
    assert set(COMPLETIONS_SQL.strip("()").replace("'", "").split(", ")) == COMPLETION_TYPES


async def test_many_opens_at_once_migrate_once(target: tuple[str, str]) -> None:
    url, schema = target
    worlds = [PostgresWorld(url, schema=schema) for _ in range(6)]
    await asyncio.gather(*(w.open() for w in worlds))
    try:
        run = await new_run(worlds[0])
        assert (await worlds[-1].get_run(run)) is not None
        conn = await admin(url)
        try:
            rows = await conn.fetch(f'SELECT version FROM "{schema}".wdk_migrations')
            version = await conn.fetchval(
                f"SELECT value FROM \"{schema}\".wdk_meta WHERE key = 'schema_version'"
            )
        finally:
            await conn.close()
        assert sorted(r[0] for r in rows) == list(range(1, SCHEMA_VERSION + 1))
        assert version == str(SCHEMA_VERSION)
    finally:
        await asyncio.gather(*(w.close() for w in worlds))


async def test_a_newer_schema_is_refused(target: tuple[str, str]) -> None:
    url, schema = target
    world = await opened(url, schema)
    await new_run(world, "keep")
    await world.close()
    conn = await admin(url)
    newer = SCHEMA_VERSION + 7
    try:
        await conn.execute(
            f"UPDATE \"{schema}\".wdk_meta SET value = $1 WHERE key = 'schema_version'", str(newer)
        )
    finally:
        await conn.close()
    with pytest.raises(WorldError) as info:
        await opened(url, schema)
    text = str(info.value)
    assert f"version {newer}" in text and f"version {SCHEMA_VERSION}" in text
    assert "upgrade wdk" in text and schema in text


async def test_a_foreign_schema_is_left_alone(target: tuple[str, str]) -> None:
    url, schema = target
    conn = await admin(url)
    try:
        await conn.execute(f'CREATE SCHEMA "{schema}"')
        await conn.execute(f'CREATE TABLE "{schema}".invoices (id int)')
        with pytest.raises(WorldError, match=r"not a wdk schema.*invoices"):
            await opened(url, schema)
        tables = await conn.fetch("SELECT tablename FROM pg_tables WHERE schemaname = $1", schema)
        assert [r[0] for r in tables] == ["invoices"]
    finally:
        await conn.close()


def _with(url: str, **parts: str) -> str:
    user = parts.get("user", "postgres")
    host = parts.get("host", "127.0.0.1")
    port = parts.get("port", url.rsplit(":", 1)[1].split("/")[0])
    db = parts.get("db", url.rsplit("/", 1)[1])
    return f"postgresql://{user}:{PASSWORD}@{host}:{port}/{db}"


@pytest.mark.parametrize(
    ("parts", "why"),
    [
        ({"db": "no_such_db_wdk"}, "database does not exist"),
        ({"user": "no_such_role_wdk"}, "user name or password"),
        ({"port": "1"}, "unreachable"),
    ],
)
async def test_bad_targets_fail_at_open_without_the_password(
    parts: dict[str, str], why: str
) -> None:
    url = _with(require_postgres(), **parts)
    world = PostgresWorld(url, schema=unique_schema(), connect_timeout=3)
    with pytest.raises(WorldError) as info:
        await asyncio.wait_for(world.open(), DEADLINE)  # fails, rather than retrying on
    text = str(info.value)
    assert why in text and PASSWORD not in text
    assert "127.0.0.1" in text and parts.get("db", parts.get("port", "")) in text
    with pytest.raises(WorldError, match="not open"):
        await world.get_run("x")


def test_a_wrong_password_is_named_and_not_shown() -> None:
    # The test server trusts local users, so the server's answer is built here.
    url = f"postgresql://app:{PASSWORD}@db.example:5433/orders"
    refused = asyncpg.InvalidPasswordError(f'password authentication failed for user "app" {PASSWORD}')
    text = str(connect_error(refused, url))
    assert "refused the user name or password" in text and "app@db.example:5433/orders" in text
    assert PASSWORD not in text


async def test_bad_urls_and_missing_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    for url in (f"mysql://root:{PASSWORD}@db/x", "not a url at all"):
        with pytest.raises(WorldError) as info:
            await PostgresWorld(url, schema="s").open()
        assert "postgresql://" in str(info.value) and PASSWORD not in str(info.value)
    monkeypatch.delenv("WDK_POSTGRES_URL", raising=False)
    with pytest.raises(WorldError, match="WDK_POSTGRES_URL"):
        PostgresWorld()
    with pytest.raises(ValueError, match="schema name"):
        PostgresWorld("postgresql://h/db", schema='bad"name')


def test_settings_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WDK_POSTGRES_URL", "postgresql://u@h:5433/db")
    monkeypatch.delenv("WDK_POSTGRES_SCHEMA", raising=False)
    world = PostgresWorld()
    assert (world.url, world.schema) == ("postgresql://u@h:5433/db", "wdk")
    monkeypatch.setenv("WDK_POSTGRES_SCHEMA", "tenant_a")
    assert PostgresWorld().schema == "tenant_a"
    chosen = create_world("postgres", url="postgresql://x@y/z", schema="other")
    assert isinstance(chosen, PostgresWorld) and (chosen.url, chosen.schema) == (
        "postgresql://x@y/z",
        "other",
    )
    assert "u@h:5433/db" in repr(world)


async def test_no_rights_to_create_the_schema(target: tuple[str, str]) -> None:
    url, schema = target
    role = f"wdk_norights_{uuid.uuid4().hex[:8]}"
    conn = await admin(url)
    await conn.execute(f"CREATE ROLE {role} LOGIN PASSWORD '{PASSWORD}'")
    try:
        limited = url.replace("postgres@", f"{role}:{PASSWORD}@", 1)
        assert limited != url, "the test URL must name the user postgres"
        with pytest.raises(WorldError) as info:
            await opened(limited, schema)
        text = str(info.value)
        assert "rights" in text and schema in text and PASSWORD not in text
        exists = await conn.fetchval("SELECT 1 FROM pg_namespace WHERE nspname = $1", schema)
        assert exists is None
    finally:
        await conn.execute(f"DROP ROLE {role}")
        await conn.close()


async def test_a_notify_wakes_a_waiter_in_another_process(
    target: tuple[str, str], no_polling: None
) -> None:
    url, schema = target
    a, b = await opened(url, schema), await opened(url, schema)
    try:
        await a.wait_for_messages("q", timeout=0.01)  # starts a's LISTEN connection

        async def later() -> None:
            await asyncio.sleep(0.05)
            await b.enqueue("q", "k", b"x")

        task = asyncio.create_task(later())
        await asyncio.wait_for(a.wait_for_messages("q", timeout=NEVER), DEADLINE)
        await task
        [lease] = await a.lease("q", owner("a"))
        assert lease.payload == b"x"
    finally:
        await a.close()
        await b.close()


async def test_follow_a_stream_written_by_another_process(
    target: tuple[str, str], no_polling: None
) -> None:
    url, schema = target
    a, b = await opened(url, schema), await opened(url, schema)
    try:
        run = await new_run(a)

        async def produce() -> None:
            for i in range(5):
                await asyncio.sleep(0.02)
                await b.stream_append(run, "out", [str(i).encode()])
            await b.stream_close(run, "out")

        # Each chunk reaches the follower by NOTIFY: it never polls (no_polling).
        got, _ = await asyncio.gather(asyncio.wait_for(_collect(a, run), DEADLINE), produce())
        assert got == [b"0", b"1", b"2", b"3", b"4"]
    finally:
        await a.close()
        await b.close()


async def _collect(world: PostgresWorld, run: str) -> list[bytes]:
    return [c.data async for c in world.stream_follow(run, "out")]


async def test_concurrent_leasers_never_share_a_message(target: tuple[str, str]) -> None:
    url, schema = target
    worlds = [await opened(url, schema) for _ in range(4)]
    try:
        for i in range(120):
            await worlds[0].enqueue("q", f"k{i}")
        taken: list[str] = []

        async def leaser(world: PostgresWorld, name: str) -> None:
            while leases := await world.lease("q", owner(name), limit=7):
                taken.extend(x.key for x in leases)

        await asyncio.gather(*(leaser(w, f"w{n}") for n, w in enumerate(worlds)))
        assert sorted(taken) == sorted(f"k{i}" for i in range(120))
    finally:
        await asyncio.gather(*(w.close() for w in worlds))


async def _terminate_backends(url: str, schema: str) -> int:
    """Kill every server connection of this world (and only its: others share the server)."""
    conn = await admin(url)
    try:
        killed = await conn.fetch(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid() "
            "AND application_name = $1",
            f"wdk {schema}",
        )
    finally:
        await conn.close()
    return len(killed)


async def until(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + DEADLINE
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.01)


async def test_the_world_survives_lost_connections(
    target: tuple[str, str], no_polling: None
) -> None:
    url, schema = target
    world, other = await opened(url, schema), await opened(url, schema)
    try:
        run = await new_run(world, started=True)
        await world.wait_for_messages("q", timeout=0.01)  # LISTEN connection up
        assert world._listener is not None and world._listener.connected
        errors: list[BaseException] = []
        written = [0]
        stop = asyncio.Event()

        async def writer() -> None:
            while not stop.is_set():
                info = await world.get_run(run) if errors else None
                seq = info.last_seq if info else 1 + written[0]
                try:
                    await world.append(run, seq, [ev("wait_created", f"w{seq}", resume_at=0)])
                    written[0] += 1
                except WorldError as exc:  # includes a ConflictError after a lost reply
                    errors.append(exc)
                    await asyncio.sleep(0.01)

        task = asyncio.create_task(writer())
        await until(lambda: written[0] >= 5, "the first writes")
        assert await _terminate_backends(url, schema) >= 2
        at_kill = written[0]
        await until(lambda: written[0] >= at_kill + 5, "writes after the connections died")
        stop.set()
        await asyncio.wait_for(task, DEADLINE)
        assert all(isinstance(e, WorldError) for e in errors)
        events = await world.read_events(run)
        assert [e.seq for e in events] == list(range(len(events)))

        # Everything works again, the LISTEN connection included.
        listener = world._listener
        await until(lambda: listener.reconnects >= 1, "the LISTEN connection to come back")
        assert listener.connected
        # Woken by the NOTIFY (no_polling), once the waiter is (likely) blocked.
        waiter = asyncio.create_task(world.wait_for_messages("q", timeout=NEVER))
        await asyncio.sleep(0.05)
        await other.enqueue("q", "after")
        await asyncio.wait_for(waiter, DEADLINE)
        assert [x.key for x in await world.lease("q", owner())] == ["after"]
    finally:
        await world.close()
        await other.close()


async def test_a_write_on_a_dead_connection_is_a_world_error(target: tuple[str, str]) -> None:
    url, schema = target
    world = PostgresWorld(url, schema=schema, min_connections=1, max_connections=1)
    await world.open()
    try:
        run = await new_run(world)
        assert await _terminate_backends(url, schema) == 1
        # The pool may not have noticed yet: the write fails cleanly or succeeds.
        try:
            await world.append(run, 0, [ev("run_started")])
        except ConflictError:
            raise
        except WorldError as exc:
            assert "lost the connection" in str(exc)
        info = await world.get_run(run)  # a read retries on a fresh connection
        assert info is not None
        await world.append(run, info.last_seq, [ev("run_cancelled")])
        assert (await world.get_run(run)).status == "cancelled"  # type: ignore[union-attr]
    finally:
        await world.close()


async def test_waiting_while_the_server_is_away_does_not_raise(target: tuple[str, str]) -> None:
    url, schema = target
    world = await opened(url, schema)
    try:
        await world.wait_for_messages("q", timeout=0.01)
        await _terminate_backends(url, schema)
        await asyncio.wait_for(world.wait_for_messages("q", timeout=0.3), DEADLINE)
    finally:
        await world.close()


async def test_a_version_1_schema_ends_the_waits_of_finished_runs(
    target: tuple[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Version 1's append_events left a finished run's waits "waiting" for ever;
    # version 2 cancels them, and ends those it finds when it migrates.
    from wdk.worlds import pg_schema

    url, schema = target
    # A real version-1 schema: only the first migration applied.
    with monkeypatch.context() as m:
        m.setattr(pg_schema, "MIGRATIONS", pg_schema.MIGRATIONS[:1])
        m.setattr(pg_schema, "SCHEMA_VERSION", 1)
        world = await opened(url, schema)
        done, live = await new_run(world, started=True), await new_run(world, started=True)
        for run in (done, live):
            await world.append(run, 1, [ev("wait_created", "w1", resume_at=time.time() + 60)])
        await world.close()
    conn = await admin(url)
    try:
        # Version 1's own function (a fresh schema gets the new one at 1 already):
        # a finished run keeps a waiting wait.
        from wdk.worlds.pg_schema import _APPEND_FUNCTION

        await conn.execute(f'SET search_path = "{schema}"')
        assert await conn.fetchval("SELECT value FROM wdk_meta WHERE key = 'schema_version'") == "1"
        await conn.execute("DROP FUNCTION append_events")
        old = _APPEND_FUNCTION.replace(
            "UPDATE waits SET status = 'cancelled' WHERE run_id = p_run AND status = 'waiting';", ""
        )
        await conn.execute(old)
        await conn.execute(
            "SELECT append_events($1, 2, ARRAY['run_cancelled'], ARRAY[1.0::float8], ARRAY[NULL], "
            "ARRAY['{}'::bytea], ARRAY[NULL], ARRAY[NULL]::integer[], ARRAY[NULL]::float8[], "
            "ARRAY[NULL]::bytea[])",
            done,
        )
        assert await conn.fetchval("SELECT status FROM waits WHERE run_id = $1", done) == "waiting"
    finally:
        await conn.close()
    world = await opened(url, schema)
    try:
        assert [w.status for w in await world.list_waits(done)] == ["cancelled"]
        assert [w.status for w in await world.list_waits(live)] == ["waiting"]
        await world.append(live, 2, [ev("run_failed", error={})])
        assert [w.status for w in await world.list_waits(live)] == ["cancelled"]
    finally:
        await world.close()


async def test_a_worker_id_lost_with_its_connection_is_taken_back(target: tuple[str, str]) -> None:
    # The advisory lock lives and dies with its session: when that connection
    # drops (a server restart, a blip) the world takes the lock again, so a
    # worker started meanwhile cannot take the id and free our live leases.
    from wdk.errors import WorkerIdTaken

    url, schema = target
    world = await opened(url, schema)
    other = await opened(url, schema)
    try:
        assert await world.claim_worker_id("w1") == "w1"
        identity = world._identity.conn
        assert identity is not None
        conn = await admin(url)
        try:
            assert await conn.fetchval("SELECT pg_terminate_backend($1)", identity.get_server_pid())
        finally:
            await conn.close()
        deadline = time.monotonic() + 20
        while world._identity.conn is None or world._identity.conn is identity:
            assert time.monotonic() < deadline, "the worker id was not taken back"
            await asyncio.sleep(0.02)
        with pytest.raises(WorkerIdTaken):
            await other.claim_worker_id("w1")
    finally:
        await other.close()
        await world.close()


async def test_calls_keep_their_connection_and_callers_beyond_the_pool_wait_their_turn(
    target: tuple[str, str],
) -> None:
    url, schema = target
    world = PostgresWorld(url, schema=schema, min_connections=1, max_connections=2)
    await world.open()
    try:
        # One call after another: the same connection, not a pool round each time.
        pids = {(await world._fetchrow("SELECT pg_backend_pid()"))[0] for _ in range(5)}
        assert len(pids) == 1
        # More callers than connections: a connection freed while one waits goes
        # to it, not aside (else the waiter would wait forever).
        rows = await asyncio.wait_for(
            asyncio.gather(*(world._fetchrow("SELECT pg_backend_pid() FROM pg_sleep(0.02)") for _ in range(12))),
            DEADLINE,
        )
        assert 1 <= len({r[0] for r in rows}) <= 2
    finally:
        await world.close()


async def test_connections_unused_for_a_while_go_back_to_the_pool(
    target: tuple[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """After a burst, the connections it took are not kept forever: the pool's
    idle timeout can close them again."""
    url, schema = target
    monkeypatch.setattr(KeptPool, "KEEP_IDLE_SECONDS", 0.05)
    world = PostgresWorld(url, schema=schema, min_connections=1, max_connections=3)
    await world.open()
    try:
        burst = [world._fetchrow("SELECT 1 FROM pg_sleep(0.02)") for _ in range(6)]
        await asyncio.wait_for(asyncio.gather(*burst), DEADLINE)
        await asyncio.sleep(0.1)
        for _ in range(3):
            await world._fetchrow("SELECT 1")
        assert world._pool is not None and len(world._pool._kept) == 1
    finally:
        await world.close()


async def test_close_hands_the_kept_connections_back(
    target: tuple[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """close() gives the kept connections back first, so the pool closes them
    gracefully instead of waiting for them and then terminating them."""
    url, schema = target
    terminated: list[object] = []
    real = asyncpg.Pool.terminate
    monkeypatch.setattr(asyncpg.Pool, "terminate", lambda pool: (terminated.append(pool), real(pool))[1])
    world = await opened(url, schema)
    await new_run(world)
    # A call still running at close hands its connection back when it ends.
    running = asyncio.create_task(world._fetchrow("SELECT 1 FROM pg_sleep(0.3)"))
    await asyncio.sleep(0.1)
    await world.close()
    assert terminated == []
    assert (await running)[0] == 1
