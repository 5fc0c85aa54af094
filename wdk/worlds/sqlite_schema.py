"""The local world's SQLite file: opening it safely, the schema and its migrations.

Opening never destroys data: every check that can refuse a file (not SQLite,
not a wdk store, a newer schema) runs before anything is written to it.

Only SQLite opens the file. POSIX record locks belong to the process, and
closing any descriptor of a file drops all of the process's locks on it: one
`open(path).close()` here would make another process's SQLite believe it is
the last user, checkpoint, and delete `-wal`/`-shm` under our live connection
(every later write lost). SQLite itself never closes a descriptor early.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from wdk.errors import WorldError
from wdk.settings import current_settings
from wdk.worlds.sqlite_keys import OTHER_IDS, SEQ_BITS, call_number

FILE_NAME = "wdk.sqlite3"
SYNCHRONOUS_MODES = ("NORMAL", "FULL")
BUSY_TIMEOUT_MS = 5000
# How long an open of an older store waits for another process migrating it:
# a migration can take seconds (version 11 rewrites every event).
MIGRATION_WAIT_MS = 600_000

# The completion types, spelled out because a partial index needs literals;
# `tests/worlds/test_local_only.py` pins them to base.COMPLETION_TYPES.
_COMPLETIONS_SQL = "('step_completed', 'step_failed', 'wait_completed')"

_STEP_V10_COLS = (
    "s.correlation_id, s.seq, s.step_id, s.status, s.attempt, s.created_at, s.updated_at, "
    "s.started_at, s.completed_at, s.retry_at, s.error"
)

_END_WAITS_OF_FINISHED_RUNS = (
    "UPDATE waits SET status = 'cancelled' WHERE status = 'waiting' AND run_id IN "
    "(SELECT id FROM runs WHERE status IN ('completed', 'failed', 'cancelled'))"
)

# Each entry migrates from version i to i + 1. Append, never edit: a store
# written by an older wdk is brought forward one step at a time.
MIGRATIONS: tuple[tuple[str, ...], ...] = (
    (
        """CREATE TABLE runs (
            id TEXT PRIMARY KEY,
            workflow_id TEXT NOT NULL,
            status TEXT NOT NULL,
            created_at REAL NOT NULL,
            updated_at REAL NOT NULL,
            last_seq INTEGER NOT NULL,
            started_at REAL,
            completed_at REAL,
            idempotency_key TEXT UNIQUE,
            parent_run_id TEXT,
            output BLOB,
            error BLOB
        )""",
        "CREATE INDEX runs_by_time ON runs (created_at, id)",
        "CREATE INDEX runs_by_status ON runs (status, created_at, id)",
        "CREATE INDEX runs_by_workflow ON runs (workflow_id, created_at, id)",
        # WITHOUT ROWID: the primary key is the table, one b-tree write per event.
        """CREATE TABLE events (
            run_id TEXT NOT NULL,
            seq INTEGER NOT NULL,
            type TEXT NOT NULL,
            at REAL NOT NULL,
            correlation_id TEXT,
            payload BLOB NOT NULL,
            PRIMARY KEY (run_id, seq)
        ) WITHOUT ROWID""",
        # The database, not the runtime, guarantees one completion per call.
        f"""CREATE UNIQUE INDEX events_one_completion ON events (run_id, correlation_id)
            WHERE type IN {_COMPLETIONS_SQL}""",
        # steps / waits / hooks: `seq` is the creating event's seq (listing order).
        """CREATE TABLE steps (
            run_id TEXT NOT NULL,
            correlation_id TEXT NOT NULL,
            seq INTEGER NOT NULL,
            step_id TEXT NOT NULL,
            status TEXT NOT NULL,
            attempt INTEGER NOT NULL,
            created_at REAL NOT NULL,
            updated_at REAL NOT NULL,
            started_at REAL,
            completed_at REAL,
            retry_at REAL,
            error BLOB,
            PRIMARY KEY (run_id, correlation_id)
        ) WITHOUT ROWID""",
        """CREATE TABLE waits (
            run_id TEXT NOT NULL,
            correlation_id TEXT NOT NULL,
            seq INTEGER NOT NULL,
            resume_at REAL NOT NULL,
            status TEXT NOT NULL,
            created_at REAL NOT NULL,
            PRIMARY KEY (run_id, correlation_id)
        ) WITHOUT ROWID""",
        """CREATE TABLE hooks (
            run_id TEXT NOT NULL,
            correlation_id TEXT NOT NULL,
            seq INTEGER NOT NULL,
            token TEXT NOT NULL,
            status TEXT NOT NULL,
            created_at REAL NOT NULL,
            metadata BLOB NOT NULL,
            PRIMARY KEY (run_id, correlation_id)
        ) WITHOUT ROWID""",
        # A token is unique among live hooks only: disposing a hook frees it.
        "CREATE UNIQUE INDEX hooks_live_token ON hooks (token) WHERE status = 'active'",
        # ready_at is when the row can be leased: its availability while idle,
        # its lease expiry while leased. pending_at is set when the row was
        # enqueued again while leased (the "dirty" flag): ack keeps it.
        """CREATE TABLE queue (
            queue TEXT NOT NULL,
            key TEXT NOT NULL,
            payload BLOB NOT NULL,
            ready_at REAL NOT NULL,
            owner TEXT,
            token INTEGER NOT NULL DEFAULT 0,
            attempts INTEGER NOT NULL DEFAULT 0,
            pending_at REAL,
            PRIMARY KEY (queue, key)
        )""",
        "CREATE INDEX queue_ready ON queue (queue, ready_at)",
        "CREATE INDEX queue_owners ON queue (queue, owner) WHERE owner IS NOT NULL",
        """CREATE TABLE streams (
            run_id TEXT NOT NULL,
            namespace TEXT NOT NULL,
            next_index INTEGER NOT NULL,
            closed INTEGER NOT NULL DEFAULT 0,
            PRIMARY KEY (run_id, namespace)
        ) WITHOUT ROWID""",
        """CREATE TABLE stream_chunks (
            run_id TEXT NOT NULL,
            namespace TEXT NOT NULL,
            idx INTEGER NOT NULL,
            data BLOB NOT NULL,
            PRIMARY KEY (run_id, namespace, idx)
        )""",
    ),
    # 2: a run's last_seq and updated_at are read from its last event (the
    # events primary key) instead of being written to its row by every append:
    # one page less per commit, the costliest part of an append.
    (
        "ALTER TABLE runs RENAME TO runs_v1",
        """CREATE TABLE runs (
            id TEXT PRIMARY KEY,
            workflow_id TEXT NOT NULL,
            status TEXT NOT NULL,
            created_at REAL NOT NULL,
            started_at REAL,
            completed_at REAL,
            idempotency_key TEXT UNIQUE,
            parent_run_id TEXT,
            output BLOB,
            error BLOB
        )""",
        "INSERT INTO runs SELECT id, workflow_id, status, created_at, started_at, completed_at, "
        "idempotency_key, parent_run_id, output, error FROM runs_v1",
        "DROP TABLE runs_v1",
        "CREATE INDEX runs_by_time ON runs (created_at, id)",
        "CREATE INDEX runs_by_status ON runs (status, created_at, id)",
        "CREATE INDEX runs_by_workflow ON runs (workflow_id, created_at, id)",
    ),
    # 3: a finished run's waits are `cancelled` (the append does it since);
    # end those that older versions left `waiting`.
    (_END_WAITS_OF_FINISHED_RUNS,),
    # 4: streams survive retries and end with their run. A chunk's `kind`: 0
    # a chunk, 1 abandoned (its attempt was rolled back: readers skip it), 2 a
    # rollback marker (data: JSON [[start, stop], ...] of what it took back).
    # stream_segments: which attempt wrote which index range (one row per run
    # of consecutive appends, so chunks carry no tag). stream_abandoned: the
    # attempts rolled back, whose later writes are hidden at once.
    (
        "ALTER TABLE stream_chunks ADD COLUMN kind INTEGER NOT NULL DEFAULT 0",
        "ALTER TABLE streams ADD COLUMN closed_by TEXT",
        """CREATE TABLE stream_segments (
            run_id TEXT NOT NULL,
            namespace TEXT NOT NULL,
            start INTEGER NOT NULL,
            stop INTEGER NOT NULL,
            attempt TEXT NOT NULL,
            PRIMARY KEY (run_id, namespace, start)
        ) WITHOUT ROWID""",
        "CREATE INDEX stream_segments_by_attempt ON stream_segments (run_id, attempt)",
        """CREATE TABLE stream_abandoned (
            run_id TEXT NOT NULL,
            attempt TEXT NOT NULL,
            PRIMARY KEY (run_id, attempt)
        ) WITHOUT ROWID""",
        # A run that ends closes its streams in the same transaction; no
        # rollback can reopen them (closed_by is cleared).
        """CREATE TRIGGER runs_end_close_streams AFTER UPDATE OF status ON runs
            WHEN NEW.status IN ('completed', 'failed', 'cancelled')
            BEGIN
                UPDATE streams SET closed = 1, closed_by = NULL
                WHERE run_id = NEW.id AND (closed = 0 OR closed_by IS NOT NULL);
            END""",
        "UPDATE streams SET closed = 1 WHERE closed = 0 AND run_id IN "
        "(SELECT id FROM runs WHERE status IN ('completed', 'failed', 'cancelled'))",
    ),
    # 5: one completion per call is enforced by the steps and waits rows the
    # same transaction updates (`sqlite_log`: a completion updates only a row
    # not yet completed), not by an index over every event: a b-tree insert at
    # a random key and a page per commit less, about a tenth of a step's cost.
    ("DROP INDEX events_one_completion",),
    # 6: flow control (wdk/runtime/limiter.py, schedules.py, debounce): a
    # message's priority (higher is leased first), the schedules' state, and
    # the debounced starts still open.
    (
        "ALTER TABLE queue ADD COLUMN priority INTEGER NOT NULL DEFAULT 0",
        # Leases take ORDER BY priority DESC, ready_at: this index walks it in order.
        "CREATE INDEX queue_by_priority ON queue (queue, priority DESC, ready_at)",
        """CREATE TABLE schedules (
            name TEXT PRIMARY KEY,
            spec BLOB NOT NULL,
            last_tick REAL,
            last_run_id TEXT,
            buffered_tick REAL,
            paused INTEGER NOT NULL DEFAULT 0,
            version INTEGER NOT NULL,
            updated_at REAL NOT NULL
        )""",
        """CREATE TABLE debounces (
            key TEXT PRIMARY KEY,
            run_id TEXT NOT NULL,
            fire_at REAL NOT NULL
        )""",
    ),
    # 7: a secret of this store, never served: the workflow's random stream is
    # derived from it and the run's seed, so an event log alone does not reveal it.
    ("INSERT OR IGNORE INTO wdk_meta (key, value) VALUES ('store_secret', lower(hex(randomblob(32))))",),
    # 8: large values stored once per run (`wdk.worlds.blobs`): events refer to them by id.
    (
        """CREATE TABLE blobs (
            run_id TEXT NOT NULL,
            id TEXT NOT NULL,
            data BLOB NOT NULL
        )""",
        "CREATE UNIQUE INDEX blobs_by_id ON blobs (run_id, id)",
    ),
    # 9: a run's priority is kept on its row: every message that queues the
    # run again (a hook's resume, a webhook, the reconciler) takes it
    # (`sqlite_queue.enqueue`). Unfinished runs get theirs from run_created.
    (
        "ALTER TABLE runs ADD COLUMN priority INTEGER NOT NULL DEFAULT 0",
        "UPDATE runs SET priority = coalesce((SELECT CAST(json_extract(CAST(payload AS TEXT), '$.priority') "
        "AS INTEGER) FROM events WHERE run_id = runs.id AND seq = 0 AND json_valid(CAST(payload AS TEXT))), 0) "
        "WHERE status NOT IN ('completed', 'failed', 'cancelled')",
    ),
    # 10: the line of processes waiting for a limit's slots or tokens
    # (`sqlite_queue.lease_in_line`): one row per (limit queue, owner), the
    # place of its best waiter, so a freed slot goes to the best waiter of any process.
    (
        """CREATE TABLE limit_line (
            queue TEXT NOT NULL,
            owner TEXT NOT NULL,
            priority INTEGER NOT NULL,
            arrival REAL NOT NULL,
            expires_at REAL NOT NULL,
            PRIMARY KEY (queue, owner)
        ) WITHOUT ROWID""",
        "CREATE INDEX limit_line_order ON limit_line (queue, priority DESC, arrival)",
    ),
    # 11: integer keys for the tables every step writes (`sqlite_keys`,
    # bench/sqlite_layout.py): a run's number is its row's rowid, stable now
    # that it is the primary key; events and steps are keyed by it and their
    # seq or call number, so a run's rows go to the end of rowid b-trees,
    # which SQLite extends without rebalancing their neighbours. A step
    # commit wrote ~4.3 WAL pages before. Steps are placed by `call_number`
    # (the `wdk_call_number` SQL function `connect` registers).
    (
        "ALTER TABLE runs RENAME TO runs_v10",
        """CREATE TABLE runs (
            num INTEGER PRIMARY KEY,
            id TEXT NOT NULL UNIQUE,
            workflow_id TEXT NOT NULL,
            status TEXT NOT NULL,
            created_at REAL NOT NULL,
            started_at REAL,
            completed_at REAL,
            idempotency_key TEXT UNIQUE,
            parent_run_id TEXT,
            output BLOB,
            error BLOB,
            priority INTEGER NOT NULL DEFAULT 0
        )""",
        "INSERT INTO runs SELECT rowid, id, workflow_id, status, created_at, started_at, completed_at, "
        "idempotency_key, parent_run_id, output, error, priority FROM runs_v10 ORDER BY rowid",
        "DROP TABLE runs_v10",  # and its trigger, made again below
        "CREATE INDEX runs_by_time ON runs (created_at, id)",
        "CREATE INDEX runs_by_status ON runs (status, created_at, id)",
        "CREATE INDEX runs_by_workflow ON runs (workflow_id, created_at, id)",
        """CREATE TRIGGER runs_end_close_streams AFTER UPDATE OF status ON runs
            WHEN NEW.status IN ('completed', 'failed', 'cancelled')
            BEGIN
                UPDATE streams SET closed = 1, closed_by = NULL
                WHERE run_id = NEW.id AND (closed = 0 OR closed_by IS NOT NULL);
            END""",
        "ALTER TABLE events RENAME TO events_v10",
        """CREATE TABLE events (
            k INTEGER PRIMARY KEY,
            type TEXT NOT NULL,
            at REAL NOT NULL,
            correlation_id TEXT,
            payload BLOB NOT NULL
        )""",
        "INSERT INTO events SELECT (r.num << 32) | e.seq, e.type, e.at, e.correlation_id, e.payload "
        "FROM events_v10 e JOIN runs r ON r.id = e.run_id ORDER BY 1",
        "DROP TABLE events_v10",
        "ALTER TABLE steps RENAME TO steps_v10",
        """CREATE TABLE steps (
            k INTEGER PRIMARY KEY,
            correlation_id TEXT NOT NULL,
            seq INTEGER NOT NULL,
            step_id TEXT NOT NULL,
            status TEXT NOT NULL,
            attempt INTEGER NOT NULL,
            created_at REAL NOT NULL,
            updated_at REAL NOT NULL,
            started_at REAL,
            completed_at REAL,
            retry_at REAL,
            error BLOB
        )""",
        # The steps kept by seq: one row per (run, correlation id) among them.
        f"CREATE UNIQUE INDEX steps_other_ids ON steps (k >> {SEQ_BITS}, correlation_id) WHERE k & {OTHER_IDS}",
        # Each row at its call number's key where it has one and is the first to...
        f"INSERT OR IGNORE INTO steps SELECT (r.num << {SEQ_BITS}) | wdk_call_number(s.correlation_id), "
        f"{_STEP_V10_COLS} FROM steps_v10 s JOIN runs r ON r.id = s.run_id "
        "WHERE wdk_call_number(s.correlation_id) IS NOT NULL ORDER BY s.seq",
        # ...the others by seq.
        f"INSERT INTO steps SELECT (r.num << {SEQ_BITS}) | {OTHER_IDS} | s.seq, {_STEP_V10_COLS} "
        "FROM steps_v10 s JOIN runs r ON r.id = s.run_id WHERE NOT EXISTS (SELECT 1 FROM steps t "
        f"WHERE t.k = (r.num << {SEQ_BITS}) | wdk_call_number(s.correlation_id) AND t.correlation_id = s.correlation_id)",
        "DROP TABLE steps_v10",
    ),
)
SCHEMA_VERSION = len(MIGRATIONS)


def resolve_data_dir(data_dir: str | Path | None) -> Path:
    """`data_dir`, else the `data_dir` setting (WDK_DATA_DIR, else `.wdk` in
    the working directory)."""
    if data_dir is None:
        data_dir = current_settings().data_dir
    return Path(data_dir).expanduser().absolute()


def resolve_synchronous(synchronous: str | None) -> str:
    """`synchronous`, else the setting (WDK_SQLITE_SYNCHRONOUS), else NORMAL; only NORMAL and FULL."""
    value = synchronous if synchronous is not None else current_settings().sqlite_synchronous
    mode = (value or "NORMAL").strip().upper()
    if mode not in SYNCHRONOUS_MODES:
        raise ValueError(
            f"WDK_SQLITE_SYNCHRONOUS / synchronous must be NORMAL or FULL, got {value!r} "
            "(NORMAL survives a process crash, FULL also survives power loss)"
        )
    return mode


def connect(data_dir: Path, synchronous: str) -> sqlite3.Connection:
    """Open (creating if needed) the store in `data_dir`, migrated to SCHEMA_VERSION."""
    try:
        data_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise WorldError(
            f"cannot create the wdk data dir {data_dir}: {exc.strerror or exc}"
        ) from exc
    path = data_dir / FILE_NAME
    if path.is_dir():  # a stat, not an open: see the module docstring
        raise WorldError(f"cannot use {path}: it is a directory, not a wdk store")
    try:
        conn = sqlite3.connect(
            path, check_same_thread=False, isolation_level=None, cached_statements=512
        )
    except sqlite3.Error as exc:
        raise WorldError(
            f"cannot open {path}: the data dir {data_dir} is not writable ({exc})"
        ) from exc
    try:
        conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        conn.create_function("wdk_call_number", 1, call_number, deterministic=True)  # migration 11
        # The first read: refuses a file that is not SQLite, before any write.
        _check_store(conn, path)
        mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
        if str(mode).lower() != "wal":
            raise WorldError(f"{path}: cannot switch to WAL mode (got {mode!r})")
        conn.execute(f"PRAGMA synchronous = {synchronous}")
        conn.execute("PRAGMA cache_size = -32000")
        conn.execute("PRAGMA temp_store = MEMORY")
        _migrate(conn, path)
    except sqlite3.OperationalError as exc:
        conn.close()
        if "readonly" in str(exc) or "unable to open" in str(exc):
            raise WorldError(f"the wdk data dir {data_dir} is not writable: {exc}") from exc
        raise WorldError(f"cannot use {path}: {exc}") from exc
    except sqlite3.DatabaseError as exc:
        conn.close()
        if exc.sqlite_errorname == "SQLITE_NOTADB":
            raise WorldError(
                f"{path} is not a SQLite database (another program's file, or a corrupt "
                "header); it was left untouched: move it away or set WDK_DATA_DIR"
            ) from exc
        raise WorldError(f"{path} is corrupt or not a SQLite database: {exc}") from exc
    except BaseException:
        conn.close()
        raise
    return conn


def _check_store(conn: sqlite3.Connection, path: Path) -> None:
    tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    if tables and "wdk_meta" not in tables:
        raise WorldError(
            f"{path} is not a wdk store: it is a SQLite file with other tables "
            f"({', '.join(sorted(tables)[:5])}); it was left untouched"
        )
    if tables:
        _check_version(_stored_version(conn), path)


def _behind(conn: sqlite3.Connection) -> bool:
    """Whether the store is new or older than this wdk (read without a lock)."""
    tables = conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'wdk_meta'").fetchone()
    return tables is None or _stored_version(conn) < SCHEMA_VERSION


def _stored_version(conn: sqlite3.Connection) -> int:
    row = conn.execute("SELECT value FROM wdk_meta WHERE key = 'schema_version'").fetchone()
    return int(row[0]) if row else 0


def _check_version(version: int, path: Path) -> None:
    if version > SCHEMA_VERSION:
        raise WorldError(
            f"{path} has wdk schema version {version}, but this wdk knows only up to "
            f"version {SCHEMA_VERSION}: upgrade wdk to open it"
        )


def _migrate(conn: sqlite3.Connection, path: Path) -> None:
    # BEGIN IMMEDIATE: two processes opening a new store at once migrate it
    # once; the second waits for the first's migration, however long it takes.
    behind = _behind(conn)
    if behind:
        conn.execute(f"PRAGMA busy_timeout = {MIGRATION_WAIT_MS}")
    try:
        conn.execute("BEGIN IMMEDIATE")
    finally:
        if behind:
            conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    try:
        conn.execute(
            "CREATE TABLE IF NOT EXISTS wdk_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)"
        )
        version = _stored_version(conn)
        _check_version(version, path)
        for statements in MIGRATIONS[version:]:
            for sql in statements:
                conn.execute(sql)
        conn.execute(
            "INSERT INTO wdk_meta (key, value) VALUES ('schema_version', ?) "
            "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            (str(SCHEMA_VERSION),),
        )
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
