"""The postgres world's stream SQL (part of its schema, `pg_schema`): the
functions and triggers that append, close and roll back streams.
"""

from __future__ import annotations

__all__ = ["STREAMS_V2", "STREAM_APPEND_FUNCTION"]

# stream_append: the stream row is the lock; returns the index after the last
# chunk, or NULL when the stream is closed. The foreign key refuses unknown runs.
STREAM_APPEND_FUNCTION = """
CREATE FUNCTION stream_append(p_run text, p_ns text, p_chunks bytea[], p_channel text)
RETURNS integer LANGUAGE plpgsql AS $fn$
DECLARE
  n integer := coalesce(array_length(p_chunks, 1), 0);
  fin integer;
BEGIN
  INSERT INTO streams (run_id, namespace, next_index) VALUES (p_run, p_ns, n)
    ON CONFLICT (run_id, namespace) DO UPDATE SET next_index = streams.next_index + n
    WHERE NOT streams.closed
    RETURNING next_index INTO fin;
  IF NOT FOUND THEN
    RETURN NULL;
  END IF;
  INSERT INTO stream_chunks (run_id, namespace, idx, data)
    SELECT p_run, p_ns, fin - n + o::integer - 1, d
    FROM unnest(p_chunks) WITH ORDINALITY AS u (d, o);
  PERFORM pg_notify(p_channel, p_run || '/' || p_ns);
  RETURN fin;
END
$fn$"""

# Schema version 2: streams across retries, crashes and the run's end. A
# chunk's `kind`: 0 a chunk, 1 abandoned (its attempt was rolled back: readers
# skip it), 2 a rollback marker (data: JSON [[start, stop], ...] it took back).
# stream_segments: which attempt wrote which index range; stream_abandoned:
# the attempts rolled back, whose later writes are hidden at once. Appends and
# closes take the run's stream lock shared, a rollback and the run's end take
# it exclusive: an append either commits before them (and is rolled back or
# closed with the rest) or sees them. Status codes of stream_append: -1 the
# stream is closed, -2 the run has ended, -3 no such run.
_STREAM_LOCK = "hashtextextended('wdk streams ' || {run}, 0)"
STREAMS_V2: tuple[str, ...] = (
    """
CREATE FUNCTION stream_append(
  p_run text, p_ns text, p_chunks bytea[], p_channel text, p_attempt text
) RETURNS integer LANGUAGE plpgsql AS $fn$
DECLARE
  n integer := coalesce(array_length(p_chunks, 1), 0);
  st text;
  fin integer;
  hidden boolean := false;
  seg record;
BEGIN
  PERFORM pg_advisory_xact_lock_shared("""
    + _STREAM_LOCK.format(run="p_run")
    + """);
  SELECT status INTO st FROM runs WHERE id = p_run;
  IF NOT FOUND THEN
    RETURN -3;
  END IF;
  IF st IN ('completed', 'failed', 'cancelled') THEN
    RETURN -2;
  END IF;
  INSERT INTO streams (run_id, namespace, next_index) VALUES (p_run, p_ns, n)
    ON CONFLICT (run_id, namespace) DO UPDATE SET next_index = streams.next_index + n
    WHERE NOT streams.closed
    RETURNING next_index INTO fin;
  IF NOT FOUND THEN
    RETURN -1;
  END IF;
  IF p_attempt IS NOT NULL THEN
    hidden := EXISTS (SELECT 1 FROM stream_abandoned WHERE run_id = p_run AND attempt = p_attempt);
  END IF;
  INSERT INTO stream_chunks (run_id, namespace, idx, data, kind)
    SELECT p_run, p_ns, fin - n + o::integer - 1, d, CASE WHEN hidden THEN 1 ELSE 0 END
    FROM unnest(p_chunks) WITH ORDINALITY AS u (d, o);
  IF p_attempt IS NOT NULL AND NOT hidden AND n > 0 THEN
    -- Consecutive appends of one attempt extend one segment.
    SELECT start, stop, attempt INTO seg FROM stream_segments
      WHERE run_id = p_run AND namespace = p_ns ORDER BY start DESC LIMIT 1;
    IF FOUND AND seg.stop = fin - n AND seg.attempt = p_attempt THEN
      UPDATE stream_segments SET stop = fin
        WHERE run_id = p_run AND namespace = p_ns AND start = seg.start;
    ELSE
      INSERT INTO stream_segments (run_id, namespace, start, stop, attempt)
        VALUES (p_run, p_ns, fin - n, fin, p_attempt);
    END IF;
  END IF;
  IF NOT hidden THEN
    PERFORM pg_notify(p_channel, p_run || '/' || p_ns);
  END IF;
  RETURN fin;
END
$fn$""",
    """
CREATE FUNCTION stream_close(p_run text, p_ns text, p_channel text, p_attempt text)
RETURNS boolean LANGUAGE plpgsql AS $fn$
BEGIN
  PERFORM pg_advisory_xact_lock_shared("""
    + _STREAM_LOCK.format(run="p_run")
    + """);
  PERFORM 1 FROM runs WHERE id = p_run;
  IF NOT FOUND THEN
    RETURN false;
  END IF;
  IF p_attempt IS NOT NULL AND EXISTS (
      SELECT 1 FROM stream_abandoned WHERE run_id = p_run AND attempt = p_attempt) THEN
    RETURN true;
  END IF;
  INSERT INTO streams (run_id, namespace, next_index, closed, closed_by)
    VALUES (p_run, p_ns, 0, true, p_attempt)
    ON CONFLICT (run_id, namespace) DO UPDATE SET closed = true,
      closed_by = CASE WHEN streams.closed THEN streams.closed_by ELSE excluded.closed_by END;
  PERFORM pg_notify(p_channel, p_run || '/' || p_ns);
  RETURN true;
END
$fn$""",
    """
CREATE FUNCTION stream_rollback(p_run text, p_attempt text, p_channel text)
RETURNS integer LANGUAGE plpgsql AS $fn$
DECLARE
  total integer := 0;
  n integer;
  fin integer;
  seg record;
BEGIN
  PERFORM pg_advisory_xact_lock("""
    + _STREAM_LOCK.format(run="p_run")
    + """);
  PERFORM 1 FROM runs WHERE id = p_run;
  IF NOT FOUND THEN
    RETURN -3;
  END IF;
  INSERT INTO stream_abandoned (run_id, attempt) VALUES (p_run, p_attempt) ON CONFLICT DO NOTHING;
  FOR seg IN
    SELECT namespace, jsonb_agg(jsonb_build_array(start, stop) ORDER BY start) AS ranges
    FROM stream_segments WHERE run_id = p_run AND attempt = p_attempt
    GROUP BY namespace ORDER BY namespace
  LOOP
    UPDATE stream_chunks c SET kind = 1 FROM stream_segments s
      WHERE s.run_id = p_run AND s.namespace = seg.namespace AND s.attempt = p_attempt
        AND c.run_id = p_run AND c.namespace = seg.namespace
        AND c.idx >= s.start AND c.idx < s.stop AND c.kind = 0;
    GET DIAGNOSTICS n = ROW_COUNT;
    total := total + n;
    UPDATE streams SET next_index = next_index + 1
      WHERE run_id = p_run AND namespace = seg.namespace RETURNING next_index - 1 INTO fin;
    INSERT INTO stream_chunks (run_id, namespace, idx, data, kind)
      VALUES (p_run, seg.namespace, fin, convert_to(seg.ranges::text, 'UTF8'), 2);
    PERFORM pg_notify(p_channel, p_run || '/' || seg.namespace);
  END LOOP;
  DELETE FROM stream_segments WHERE run_id = p_run AND attempt = p_attempt;
  UPDATE streams SET closed = false, closed_by = NULL WHERE run_id = p_run AND closed_by = p_attempt;
  IF FOUND THEN
    PERFORM pg_notify(p_channel, p_run);
  END IF;
  RETURN total;
END
$fn$""",
    # A run that ends closes its streams in the same transaction, and wakes
    # every follower of the run (payload: the run id alone).
    """
CREATE FUNCTION close_streams_at_run_end() RETURNS trigger LANGUAGE plpgsql AS $fn$
BEGIN
  PERFORM pg_advisory_xact_lock("""
    + _STREAM_LOCK.format(run="NEW.id")
    + """);
  UPDATE streams SET closed = true, closed_by = NULL
    WHERE run_id = NEW.id AND (NOT closed OR closed_by IS NOT NULL);
  PERFORM pg_notify(current_schema() || '.stream', NEW.id);
  RETURN NULL;
END
$fn$""",
    """CREATE TRIGGER runs_end_close_streams AFTER UPDATE OF status ON runs FOR EACH ROW
    WHEN (NEW.status IN ('completed', 'failed', 'cancelled') AND OLD.status IS DISTINCT FROM NEW.status)
    EXECUTE FUNCTION close_streams_at_run_end()""",
)
