"""The postgres world's schema: its tables and SQL functions, as migrations.

Everything lives in one schema of its own (`wdk` unless configured), reached
through the connections' search_path, so the SQL elsewhere is unqualified.
Connecting, opening and migrating a store is `pg_connect`'s.
"""

from __future__ import annotations

from wdk.worlds.pg_stream_schema import STREAM_APPEND_FUNCTION, STREAMS_V2

# The completion types, spelled out because a partial index needs literals;
# `tests/worlds/test_postgres_only.py` pins them to base.COMPLETION_TYPES.
COMPLETIONS_SQL = "('step_completed', 'step_failed', 'wait_completed')"
_NOW_SQL = "extract(epoch FROM clock_timestamp())::float8"  # the queue's clock (pg_queue)

# A finished run frees its hook tokens and ends its waits (the runs UPDATE
# last: it sets FOUND).
_FINISH_RUN = """
      UPDATE hooks SET status = 'disposed' WHERE run_id = p_run AND status = 'active';
      UPDATE waits SET status = 'cancelled' WHERE run_id = p_run AND status = 'waiting';
      UPDATE runs SET status = {status}, completed_at = p_ats[i], output = {output},
        error = {error} WHERE id = p_run;"""

# append_events: the whole append in one statement (one round trip). The
# expected-seq UPDATE takes the run's row lock, so a concurrent writer waits,
# then finds last_seq moved and conflicts: the log never forks. Any RAISE
# rolls back the statement, so nothing of a refused batch is written. Codes
# WDK01 (conflict) and WDK02 (unknown run) are mapped by `pg_log`.
# Per event: p_names = step_id | token, p_nums = attempt | hook conflict flag, p_times = retry_at |
# resume_at, p_blobs = error | metadata | output (extracted by pg_log).
_APPEND_FUNCTION = (
    """
CREATE FUNCTION append_events(
  p_run text, p_expected integer, p_types text[], p_ats float8[], p_cids text[],
  p_payloads bytea[], p_names text[], p_nums integer[], p_times float8[], p_blobs bytea[]
) RETURNS void LANGUAGE plpgsql AS $fn$
DECLARE
  n integer := coalesce(array_length(p_types, 1), 0);
  i integer := 1;
  st text;
  at_seq integer;
BEGIN
  IF n = 0 THEN
    SELECT status INTO st FROM runs WHERE id = p_run AND last_seq = p_expected;
  ELSE
    UPDATE runs SET last_seq = p_expected + n, updated_at = p_ats[n]
      WHERE id = p_run AND last_seq = p_expected RETURNING status INTO st;
  END IF;
  IF NOT FOUND THEN
    SELECT last_seq INTO at_seq FROM runs WHERE id = p_run;
    IF NOT FOUND THEN
      RAISE EXCEPTION USING ERRCODE = 'WDK02', MESSAGE = p_run;
    END IF;
    RAISE EXCEPTION USING ERRCODE = 'WDK01', MESSAGE = format(
      'run %s: append expected seq %s but the log is at %s (another writer got there first)',
      p_run, p_expected, at_seq);
  END IF;
  IF n = 0 THEN
    RETURN;
  END IF;
  IF st IN ('completed', 'failed', 'cancelled')
      AND EXISTS (SELECT 1 FROM unnest(p_types) AS t WHERE t <> 'hook_disposed') THEN
    RAISE EXCEPTION USING ERRCODE = 'WDK01', MESSAGE = format(
      'run %s is already %s: cannot append %s', p_run, st, p_types[1]);
  END IF;
  INSERT INTO events (run_id, seq, type, at, correlation_id, payload)
    SELECT p_run, p_expected + o::integer, t, a, c, p
    FROM unnest(p_types, p_ats, p_cids, p_payloads) WITH ORDINALITY AS u (t, a, c, p, o);
  WHILE i <= n LOOP
    CASE p_types[i]
    WHEN 'run_created' THEN
      RAISE EXCEPTION USING ERRCODE = 'WDK01',
        MESSAGE = format('run %s: run_created is written by create_run only', p_run);
    WHEN 'run_started' THEN
      UPDATE runs SET status = 'running', started_at = coalesce(started_at, p_ats[i])
        WHERE id = p_run;
    WHEN 'run_completed' THEN"""
    + _FINISH_RUN.format(status="'completed'", output="p_blobs[i]", error="NULL")
    + """
    WHEN 'run_failed' THEN"""
    + _FINISH_RUN.format(status="'failed'", output="NULL", error="p_blobs[i]")
    + """
    WHEN 'run_cancelled' THEN"""
    + _FINISH_RUN.format(status="'cancelled'", output="NULL", error="NULL")
    + """
    WHEN 'step_created' THEN
      IF i < n AND p_types[i + 1] = 'step_started' AND p_cids[i + 1] = p_cids[i] THEN
        -- An eager step is created and started in one commit: one row write.
        INSERT INTO steps (run_id, correlation_id, seq, step_id, status, attempt,
            created_at, updated_at, started_at)
          VALUES (p_run, p_cids[i], p_expected + i, p_names[i], 'running', p_nums[i + 1],
            p_ats[i], p_ats[i + 1], p_ats[i + 1]);
        i := i + 1;
      ELSE
        INSERT INTO steps (run_id, correlation_id, seq, step_id, status, attempt,
            created_at, updated_at)
          VALUES (p_run, p_cids[i], p_expected + i, p_names[i], 'created', 0,
            p_ats[i], p_ats[i]);
      END IF;
    WHEN 'step_started' THEN
      UPDATE steps SET status = 'running', attempt = p_nums[i],
          started_at = coalesce(started_at, p_ats[i]), retry_at = NULL, updated_at = p_ats[i]
        WHERE run_id = p_run AND correlation_id = p_cids[i];
    WHEN 'step_retrying' THEN
      UPDATE steps SET status = 'retrying', attempt = coalesce(p_nums[i], attempt),
          error = p_blobs[i], retry_at = p_times[i], updated_at = p_ats[i]
        WHERE run_id = p_run AND correlation_id = p_cids[i];
    WHEN 'step_completed' THEN
      UPDATE steps SET status = 'completed', completed_at = p_ats[i], retry_at = NULL,
          error = NULL, updated_at = p_ats[i]
        WHERE run_id = p_run AND correlation_id = p_cids[i];
    WHEN 'step_failed' THEN
      UPDATE steps SET status = 'failed', completed_at = p_ats[i], retry_at = NULL,
          error = p_blobs[i], attempt = coalesce(p_nums[i], attempt), updated_at = p_ats[i]
        WHERE run_id = p_run AND correlation_id = p_cids[i];
    WHEN 'wait_created' THEN
      INSERT INTO waits (run_id, correlation_id, seq, resume_at, status, created_at)
        VALUES (p_run, p_cids[i], p_expected + i, p_times[i], 'waiting', p_ats[i]);
    WHEN 'wait_completed' THEN
      UPDATE waits SET status = 'completed' WHERE run_id = p_run AND correlation_id = p_cids[i];
    WHEN 'hook_created' THEN
      INSERT INTO hooks (run_id, correlation_id, seq, token, status, created_at, metadata)
        VALUES (p_run, p_cids[i], p_expected + i, p_names[i],
          -- A hook recorded as conflicting (p_nums = 1) never held its token.
          CASE WHEN p_nums[i] = 1 THEN 'conflict' ELSE 'active' END, p_ats[i], p_blobs[i]);
    WHEN 'hook_received' THEN
      PERFORM 1 FROM hooks WHERE run_id = p_run AND correlation_id = p_cids[i];
    WHEN 'hook_disposed' THEN
      UPDATE hooks SET status = 'disposed' WHERE run_id = p_run AND correlation_id = p_cids[i];
    END CASE;
    -- Each update above names an existing row; none found is a conflict.
    IF NOT FOUND THEN
      RAISE EXCEPTION USING ERRCODE = 'WDK01', MESSAGE = format(
        'run %s: %s for unknown %s %s', p_run, p_types[i], split_part(p_types[i], '_', 1),
        p_cids[i]);
    END IF;
    i := i + 1;
  END LOOP;
END
$fn$"""
)

# Version 5 of append_events: `run_blocked` / `run_unblocked` move a run to
# `blocked` and back (its history does not replay against the code, then
# does), `run_resumed` continues a failed run (`wdk retry`: the one event that
# may follow a terminal one), `patch_recorded` is only kept in the log.
_TERMINAL_CHECK = """  IF st IN ('completed', 'failed', 'cancelled')
      AND EXISTS"""
_APPEND_FUNCTION_V5 = (
    _APPEND_FUNCTION.replace("CREATE FUNCTION", "CREATE OR REPLACE FUNCTION", 1)
    .replace(
        _TERMINAL_CHECK,
        """  IF st IN ('completed', 'failed', 'cancelled')
      AND NOT (st = 'failed' AND p_types[1] = 'run_resumed')
      AND EXISTS""",
        1,
    )
    .replace(
        """    WHEN 'step_created' THEN""",
        """    WHEN 'run_blocked' THEN
      UPDATE runs SET status = 'blocked' WHERE id = p_run;
    WHEN 'run_unblocked' THEN
      UPDATE runs SET status = 'running' WHERE id = p_run;
    WHEN 'run_resumed' THEN
      UPDATE runs SET status = 'running', completed_at = NULL, error = NULL WHERE id = p_run;
    WHEN 'patch_recorded' THEN
      PERFORM 1;
    WHEN 'step_created' THEN""",
        1,
    )
)
assert _TERMINAL_CHECK in _APPEND_FUNCTION

# create_run: returns the existing run for a used idempotency key (and writes
# nothing), else inserts the run and its run_created event and returns no row.
_CREATE_RUN_FUNCTION = """
CREATE FUNCTION create_run(
  p_id text, p_workflow text, p_at float8, p_payload bytea, p_key text, p_parent text
) RETURNS SETOF runs LANGUAGE plpgsql AS $fn$
BEGIN
  IF p_key IS NOT NULL THEN
    RETURN QUERY SELECT * FROM runs WHERE idempotency_key = p_key;
    IF FOUND THEN
      RETURN;
    END IF;
  END IF;
  INSERT INTO runs (id, workflow_id, status, created_at, updated_at, last_seq,
      idempotency_key, parent_run_id)
    VALUES (p_id, p_workflow, 'pending', p_at, p_at, 0, p_key, p_parent)
    ON CONFLICT (idempotency_key) DO NOTHING;
  IF NOT FOUND THEN
    -- A concurrent create with the same key committed first: a fresh snapshot sees it.
    RETURN QUERY SELECT * FROM runs WHERE idempotency_key = p_key;
    RETURN;
  END IF;
  INSERT INTO events (run_id, seq, type, at, correlation_id, payload)
    VALUES (p_id, 0, 'run_created', p_at, NULL, p_payload);
END
$fn$"""

# start_run: create_run and the run's queue message in one statement (one
# round trip): leased to p_owner at once when given (no NOTIFY: nobody else
# should wake for it), else available now and announced. An idempotency key
# already used returns the existing run and writes nothing (RETURN QUERY sets
# FOUND when create_run returned it).
_START_RUN_FUNCTION = f"""
CREATE FUNCTION start_run(
  p_id text, p_workflow text, p_at float8, p_payload bytea, p_key text, p_parent text,
  p_queue text, p_owner text, p_lease_for float8, p_token bigint, p_channel text
) RETURNS SETOF runs LANGUAGE plpgsql AS $fn$
BEGIN
  RETURN QUERY SELECT * FROM create_run(p_id, p_workflow, p_at, p_payload, p_key, p_parent);
  IF FOUND THEN
    RETURN;
  END IF;
  IF p_owner IS NULL THEN
    INSERT INTO queue (queue, key, payload, available_at)
      VALUES (p_queue, p_id, '', {_NOW_SQL});
    PERFORM pg_notify(p_channel, p_queue);
  ELSE
    INSERT INTO queue (queue, key, payload, available_at, owner, token, attempts)
      VALUES (p_queue, p_id, '', {_NOW_SQL} + p_lease_for, p_owner, p_token, 1);
  END IF;
END
$fn$"""

# start_run with the message's priority (schema 5 on).
_START_RUN_PRIORITY_FUNCTION = f"""
CREATE FUNCTION start_run(
  p_id text, p_workflow text, p_at float8, p_payload bytea, p_key text, p_parent text,
  p_queue text, p_owner text, p_lease_for float8, p_token bigint, p_channel text, p_priority integer
) RETURNS SETOF runs LANGUAGE plpgsql AS $fn$
BEGIN
  RETURN QUERY SELECT * FROM create_run(p_id, p_workflow, p_at, p_payload, p_key, p_parent);
  IF FOUND THEN
    RETURN;
  END IF;
  IF p_owner IS NULL THEN
    INSERT INTO queue (queue, key, payload, available_at, priority)
      VALUES (p_queue, p_id, '', {_NOW_SQL}, p_priority);
    PERFORM pg_notify(p_channel, p_queue);
  ELSE
    INSERT INTO queue (queue, key, payload, available_at, owner, token, attempts, priority)
      VALUES (p_queue, p_id, '', {_NOW_SQL} + p_lease_for, p_owner, p_token, 1, p_priority);
  END IF;
END
$fn$"""

# Schema 9: a run's priority is kept on its row (a create_run overload takes
# it), and start_run passes it on.
_CREATE_RUN_PRIORITY_FUNCTION = (
    _CREATE_RUN_FUNCTION.replace("p_key text, p_parent text\n)", "p_key text, p_parent text, p_priority integer\n)", 1)
    .replace("idempotency_key, parent_run_id)\n", "idempotency_key, parent_run_id, priority)\n", 1)
    .replace("p_key, p_parent)\n", "p_key, p_parent, p_priority)\n", 1)
)
_START_RUN_V9_FUNCTION = _START_RUN_PRIORITY_FUNCTION.replace("CREATE FUNCTION", "CREATE OR REPLACE FUNCTION", 1).replace(
    "create_run(p_id, p_workflow, p_at, p_payload, p_key, p_parent)",
    "create_run(p_id, p_workflow, p_at, p_payload, p_key, p_parent, p_priority)",
    1,
)
assert _CREATE_RUN_PRIORITY_FUNCTION.count("p_priority") == 2 and "p_parent, p_priority)" in _START_RUN_V9_FUNCTION

# Each entry migrates from version i to i + 1. Append, never edit.
MIGRATIONS: tuple[tuple[str, ...], ...] = (
    (
        """CREATE TABLE runs (
            id text PRIMARY KEY,
            workflow_id text NOT NULL,
            status text NOT NULL,
            created_at float8 NOT NULL,
            updated_at float8 NOT NULL,
            last_seq integer NOT NULL,
            started_at float8,
            completed_at float8,
            idempotency_key text UNIQUE,
            parent_run_id text,
            output bytea,
            error bytea
        )""",
        "CREATE INDEX runs_by_time ON runs (created_at, id)",
        "CREATE INDEX runs_by_status ON runs (status, created_at, id)",
        "CREATE INDEX runs_by_workflow ON runs (workflow_id, created_at, id)",
        """CREATE TABLE events (
            run_id text NOT NULL,
            seq integer NOT NULL,
            type text NOT NULL,
            at float8 NOT NULL,
            correlation_id text,
            payload bytea NOT NULL,
            PRIMARY KEY (run_id, seq)
        )""",
        # The database, not the runtime, guarantees one completion per call.
        f"""CREATE UNIQUE INDEX events_one_completion ON events (run_id, correlation_id)
            WHERE type IN {COMPLETIONS_SQL}""",
        # steps / waits / hooks: `seq` is the creating event's seq (listing order).
        """CREATE TABLE steps (
            run_id text NOT NULL,
            correlation_id text NOT NULL,
            seq integer NOT NULL,
            step_id text NOT NULL,
            status text NOT NULL,
            attempt integer NOT NULL,
            created_at float8 NOT NULL,
            updated_at float8 NOT NULL,
            started_at float8,
            completed_at float8,
            retry_at float8,
            error bytea,
            PRIMARY KEY (run_id, correlation_id)
        )""",
        """CREATE TABLE waits (
            run_id text NOT NULL,
            correlation_id text NOT NULL,
            seq integer NOT NULL,
            resume_at float8 NOT NULL,
            status text NOT NULL,
            created_at float8 NOT NULL,
            PRIMARY KEY (run_id, correlation_id)
        )""",
        """CREATE TABLE hooks (
            run_id text NOT NULL,
            correlation_id text NOT NULL,
            seq integer NOT NULL,
            token text NOT NULL,
            status text NOT NULL,
            created_at float8 NOT NULL,
            metadata bytea NOT NULL,
            PRIMARY KEY (run_id, correlation_id)
        )""",
        # A token is unique among live hooks only: disposing a hook frees it.
        "CREATE UNIQUE INDEX hooks_live_token ON hooks (token) WHERE status = 'active'",
        # available_at is when the row can be leased: its availability while
        # idle, its lease expiry while leased (one index serves every lease).
        # pending_at is the dirty flag: enqueued again while leased, so ack
        # keeps the row, available then. Times are the server's clock.
        """CREATE TABLE queue (
            queue text NOT NULL,
            key text NOT NULL,
            payload bytea NOT NULL,
            available_at float8 NOT NULL,
            owner text,
            token bigint NOT NULL DEFAULT 0,
            attempts integer NOT NULL DEFAULT 0,
            pending_at float8,
            PRIMARY KEY (queue, key)
        )""",
        "CREATE INDEX queue_available ON queue (queue, available_at)",
        """CREATE TABLE streams (
            run_id text NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
            namespace text NOT NULL,
            next_index integer NOT NULL,
            closed boolean NOT NULL DEFAULT false,
            PRIMARY KEY (run_id, namespace)
        )""",
        """CREATE TABLE stream_chunks (
            run_id text NOT NULL,
            namespace text NOT NULL,
            idx integer NOT NULL,
            data bytea NOT NULL,
            PRIMARY KEY (run_id, namespace, idx)
        )""",
        _APPEND_FUNCTION,
        _CREATE_RUN_FUNCTION,
        STREAM_APPEND_FUNCTION,
    ),
    # 2: a finished run's waits are `cancelled` by append_events; end those
    # that version 1 left `waiting`. (A fresh schema gets the new function at
    # 1 already; replacing it with itself is harmless.)
    (
        _APPEND_FUNCTION.replace("CREATE FUNCTION", "CREATE OR REPLACE FUNCTION", 1),
        """UPDATE waits SET status = 'cancelled' FROM runs
            WHERE waits.run_id = runs.id AND waits.status = 'waiting'
              AND runs.status IN ('completed', 'failed', 'cancelled')""",
    ),
    # 3: streams survive retries and end with their run (see STREAMS_V2).
    (
        "ALTER TABLE stream_chunks ADD COLUMN kind smallint NOT NULL DEFAULT 0",
        "ALTER TABLE streams ADD COLUMN closed_by text",
        """CREATE TABLE stream_segments (
            run_id text NOT NULL,
            namespace text NOT NULL,
            start integer NOT NULL,
            stop integer NOT NULL,
            attempt text NOT NULL,
            PRIMARY KEY (run_id, namespace, start)
        )""",
        "CREATE INDEX stream_segments_by_attempt ON stream_segments (run_id, attempt)",
        """CREATE TABLE stream_abandoned (
            run_id text NOT NULL,
            attempt text NOT NULL,
            PRIMARY KEY (run_id, attempt)
        )""",
        "DROP FUNCTION stream_append(text, text, bytea[], text)",
        *STREAMS_V2,
        "UPDATE streams SET closed = true WHERE NOT closed AND run_id IN "
        "(SELECT id FROM runs WHERE status IN ('completed', 'failed', 'cancelled'))",
    ),
    # 4: start() is one round trip (see _START_RUN_FUNCTION).
    (_START_RUN_FUNCTION,),
    # 5: safe deploys: blocked runs, `wdk retry` (see _APPEND_FUNCTION_V5).
    (_APPEND_FUNCTION_V5,),
    # 6: flow control (wdk/runtime/limiter.py, schedules.py, debounce): a
    # message's priority (higher is leased first; start_run takes it), the
    # schedules' state, and the debounced starts still open.
    (
        "ALTER TABLE queue ADD COLUMN priority integer NOT NULL DEFAULT 0",
        # Leases take ORDER BY priority DESC, available_at: this index walks it in order.
        "CREATE INDEX queue_by_priority ON queue (queue, priority DESC, available_at)",
        "DROP FUNCTION start_run(text, text, float8, bytea, text, text, text, text, float8, bigint, text)",
        _START_RUN_PRIORITY_FUNCTION,
        """CREATE TABLE schedules (
            name text PRIMARY KEY,
            spec bytea NOT NULL,
            last_tick float8,
            last_run_id text,
            buffered_tick float8,
            paused boolean NOT NULL DEFAULT false,
            version integer NOT NULL,
            updated_at float8 NOT NULL
        )""",
        """CREATE TABLE debounces (
            key text PRIMARY KEY,
            run_id text NOT NULL,
            fire_at float8 NOT NULL
        )""",
    ),
    # 7: a secret of this store, never served: the workflow's random stream is
    # derived from it and the run's seed, so an event log alone does not reveal it.
    # (gen_random_uuid: PostgreSQL's CSPRNG, built in since 13; 2 x 122 random bits.)
    (
        "INSERT INTO wdk_meta (key, value) VALUES ('store_secret', "
        "replace(gen_random_uuid()::text || gen_random_uuid()::text, '-', '')) ON CONFLICT (key) DO NOTHING",
    ),
    # 8: large values stored once per run (`wdk.worlds.blobs`): events refer to them by id.
    (
        """CREATE TABLE blobs (
            run_id text NOT NULL,
            id text NOT NULL,
            data bytea NOT NULL,
            PRIMARY KEY (run_id, id)
        )""",
    ),
    # 9: a run's priority is kept on its row: every message that queues the
    # run again (a hook's resume, a webhook, the reconciler) takes it
    # (`pg_queue`'s enqueue). Unfinished runs get theirs from run_created.
    (
        "ALTER TABLE runs ADD COLUMN priority integer NOT NULL DEFAULT 0",
        """UPDATE runs SET priority = coalesce((
            SELECT substring(convert_from(e.payload, 'UTF8') FROM '"priority":\\s*(-?[0-9]{1,9})[,}]')::integer
            FROM events e WHERE e.run_id = runs.id AND e.seq = 0), 0)
          WHERE status NOT IN ('completed', 'failed', 'cancelled')""",
        # An overload: the six-argument create_run stays (priority 0), so
        # code that passes no priority also runs on a store not yet migrated.
        _CREATE_RUN_PRIORITY_FUNCTION,
        _START_RUN_V9_FUNCTION,
    ),
    # 10: the line of processes waiting for a limit's slots or tokens
    # (`pg_queue`'s lease_in_line): one row per (limit queue, owner), the place
    # of its best waiter, so a freed slot goes to the best waiter of any process.
    (
        """CREATE TABLE limit_line (
            queue text NOT NULL,
            owner text NOT NULL,
            priority integer NOT NULL,
            arrival float8 NOT NULL,
            expires_at float8 NOT NULL,
            PRIMARY KEY (queue, owner)
        )""",
        "CREATE INDEX limit_line_order ON limit_line (queue, priority DESC, arrival)",
    ),
)
SCHEMA_VERSION = len(MIGRATIONS)
