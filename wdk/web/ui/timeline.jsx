// A run's steps and sleeps in call order, as bars placed by their start and
// end relative to the run's creation (as `wdk inspect run` lists them).
// A step's bar is made of its attempts, read from the event log: failed
// attempts are red, the gaps between them are the retry back-off.

// From the events: each step's attempts, and when each wait completed.
function attemptsOf(events) {
  const attempts = {};
  const waitDone = {};
  for (const event of events) {
    const id = event.correlation_id;
    const payload = event.payload || {};
    if (event.type === "step_started") {
      (attempts[id] = attempts[id] || []).push({ attempt: payload.attempt, start: event.at, end: null, outcome: "running" });
    } else if (event.type === "step_retrying" || event.type === "step_failed" || event.type === "step_completed") {
      const list = attempts[id] || [];
      const last = list[list.length - 1];
      if (last && last.end === null) {
        last.end = event.at;
        last.outcome = event.type === "step_completed" ? "ok" : event.type === "step_retrying" ? "retry" : "fail";
        last.error = payload.error || null;
      }
    } else if (event.type === "wait_completed") {
      waitDone[id] = event.at;
    }
  }
  return { attempts, waitDone };
}

function timelineRows(detail, events, now) {
  const { attempts, waitDone } = attemptsOf(events);
  const rows = [];
  for (const step of detail.steps) {
    rows.push({
      kind: "step",
      id: step.correlation_id,
      name: shortStep(step.step_id),
      status: step.status,
      start: step.started_at || step.created_at,
      end: step.completed_at,
      attempt: step.attempt,
      attempts: attempts[step.correlation_id] || [],
      retryAt: step.retry_at,
    });
  }
  for (const wait of detail.waits) {
    rows.push({
      kind: "sleep",
      id: wait.correlation_id,
      name: fmtDuration(wait.resume_at - wait.created_at),
      status: wait.status,
      start: wait.created_at,
      end: waitDone[wait.correlation_id] || (wait.status === "completed" ? wait.resume_at : null),
      until: wait.resume_at,
    });
  }
  // A run that ended leaves what it was doing unfinished (a step cut short; its
  // sleeps the store marks "cancelled"): draw it up to the end, under the run's status.
  const run = detail.run;
  if (TERMINAL.has(run.status)) {
    for (const row of rows) {
      if (row.end !== null && row.end !== undefined) continue;
      row.end = Math.max(row.start, runEnd(run, now));
      row.cut = true;
      if (run.status === "cancelled") row.status = "cancelled";
    }
  }
  rows.sort((a, b) => position(a.id) - position(b.id));
  return rows;
}

// Short spans need a decimal, or every tick of a 3 ms run reads "1 ms".
function fmtTick(seconds, span) {
  return span < 0.02 ? `${(seconds * 1000).toFixed(1)} ms` : fmtDuration(seconds);
}

// A bar from `start` to `end` on a track that spans [origin, origin + span].
function Bar({ start, end, origin, span, cls, title, open }) {
  const left = Math.min(100, Math.max(0, ((start - origin) / span) * 100));
  const right = Math.min(100, Math.max(0, ((end - origin) / span) * 100));
  return (
    <div
      class={`bar ${cls}${open ? " open" : ""}`}
      title={title}
      style={{ left: `${left}%`, width: `${Math.max(0.4, right - left)}%` }}
    />
  );
}

function StepTrack({ row, origin, span, now }) {
  const end = row.end ?? now;
  const segments = row.attempts.map((a) => (
    <Bar
      start={a.start}
      end={a.end ?? end}
      origin={origin}
      span={span}
      cls={`seg ${a.end === null && row.cut ? "cut" : a.outcome}`}
      title={`attempt ${a.attempt}: ${fmtOffset(a.start, origin)} → ${a.end ? fmtOffset(a.end, origin) : "now"}` +
        (a.error ? ` · ${errorLine(a.error)}` : "")}
    />
  ));
  return (
    <div class="track">
      <Bar start={row.start} end={end} origin={origin} span={span} cls="span-line" title={row.name} />
      {segments.length ? segments : <Bar start={row.start} end={end} origin={origin} span={span} cls="seg queued" title="not started" />}
    </div>
  );
}

function SleepTrack({ row, origin, span, now }) {
  const end = row.end ?? Math.min(row.until, now);
  const beyond = row.end === null && row.until > origin + span;
  return (
    <div class="track">
      <Bar
        start={row.start}
        end={end}
        origin={origin}
        span={span}
        cls={`sleep ${row.status}`}
        open={beyond}
        title={`sleep until ${fmtTime(row.until)}`}
      />
    </div>
  );
}

function RetryErrors({ row, origin }) {
  const failed = row.attempts.filter((a) => a.error);
  if (!failed.length) return null;
  return (
    <ul class="attempt-errors">
      {failed.map((a) => (
        <li class={a.outcome}>
          <span class="muted">attempt {a.attempt} {fmtOffset(a.end, origin)}</span> {errorLine(a.error)}
        </li>
      ))}
      {row.status === "retrying" && row.retryAt && (
        <li class="muted">next attempt at {fmtTime(row.retryAt)}</li>
      )}
    </ul>
  );
}

function Timeline({ detail, events, now }) {
  const run = detail.run;
  const origin = run.created_at;
  const rows = timelineRows(detail, events, now);
  if (!rows.length) {
    return <p class="empty">{TERMINAL.has(run.status) ? "This run made no steps or sleeps." : "No steps yet."}</p>;
  }
  let last = runEnd(run, now);
  for (const row of rows) if (row.end) last = Math.max(last, row.end);
  const span = Math.max(last - origin, 0.001);
  const ticks = [0, 0.25, 0.5, 0.75, 1];
  return (
    <div class="timeline">
      <div class="tl-row axis">
        <div class="muted">{rows.length} {rows.length === 1 ? "call" : "calls"}</div>
        <div class="track ticks">
          {ticks.map((t) => (
            <span style={{ left: `${t * 100}%` }}>{fmtTick(t * span, span)}</span>
          ))}
        </div>
        <div class="tl-time muted">start · took</div>
      </div>
      {rows.map((row) => {
        const begin = row.attempts && row.attempts.length ? row.attempts[0].start : row.start;
        const took = row.end !== null && row.end !== undefined && !row.cut ? row.end - begin : null;
        return (
          <div class={`tl-item ${row.kind}`} data-kind={row.kind} data-status={row.status}>
            <div class="tl-row">
              <div class="tl-label">
                <span class={`kind k-${row.kind}`}>{row.kind}</span>
                <span class="name" title={row.kind === "sleep" ? `${row.id}: until ${fmtTime(row.until)}` : row.id}>
                  {row.name}
                </span>
                <Badge status={row.status} />
                {row.kind === "step" && row.attempt > 1 && <span class="attempts">{row.attempt} attempts</span>}
              </div>
              {row.kind === "step" ? (
                <StepTrack row={row} origin={origin} span={span} now={now} />
              ) : (
                <SleepTrack row={row} origin={origin} span={span} now={now} />
              )}
              <div class="tl-time num">
                <span class="muted">{fmtOffset(row.start, origin)}</span>
                <span>
                  {took !== null
                    ? fmtDuration(took)
                    : row.cut
                      ? "ended"
                      : row.kind === "sleep"
                        ? `until ${fmtTime(row.until).slice(11)}`
                        : "…"}
                </span>
              </div>
            </div>
            {row.kind === "step" && <RetryErrors row={row} origin={origin} />}
          </div>
        );
      })}
    </div>
  );
}
