// One run: header and outcome, timeline, hooks, its stream (live), its event log.

function Field({ label, children }) {
  return (
    <div class="field">
      <dt>{label}</dt>
      <dd>{children}</dd>
    </div>
  );
}

function RunHeader({ run, now, cancelling, onCancel }) {
  return (
    <section class="card run-header">
      <div class="title-row">
        <h1>{shortWorkflow(run.workflow_id)}</h1>
        <Badge status={run.status} />
        <span class="spacer" />
        {!TERMINAL.has(run.status) && (
          <button type="button" class="danger" id="cancel" disabled={cancelling} onClick={onCancel}>
            {cancelling ? "Cancelling…" : "Cancel run"}
          </button>
        )}
      </div>
      <dl class="fields">
        <Field label="run">
          <span class="mono" id="run-id">{run.id}</span>
        </Field>
        <Field label="created">{fmtTime(run.created_at)}</Field>
        <Field label="started">{run.started_at ? fmtOffset(run.started_at, run.created_at) : "-"}</Field>
        <Field label={TERMINAL.has(run.status) ? "ended" : "updated"}>
          {fmtTime(run.completed_at || run.updated_at)}
        </Field>
        <Field label="duration">{fmtDuration(runDuration(run, now))}</Field>
        {run.parent_run_id && (
          <Field label="parent">
            <a class="mono" href={`#/run/${run.parent_run_id}`}>{run.parent_run_id}</a>
          </Field>
        )}
        {run.idempotency_key && <Field label="idempotency key">{run.idempotency_key}</Field>}
        {run.code_version && (
          <Field label="code version">
            <span class="mono" id="code-version">{run.code_version}</span>
          </Field>
        )}
        {run.rerun_of && (
          <Field label="rerun of">
            <a class="mono" href={`#/run/${run.rerun_of}`}>{run.rerun_of}</a>
          </Field>
        )}
      </dl>
    </section>
  );
}

function Outcome({ run }) {
  if (run.status === "blocked" && run.divergence) {
    // Its history does not replay against the deployed code: why, and where.
    const d = run.divergence;
    return (
      <section class="card outcome blocked" id="divergence">
        <h2>Blocked by a code change</h2>
        <p class="error-line">{d.message}</p>
        <dl>
          <dt>history has</dt><dd class="mono" id="divergence-expected">{d.expected || "-"}</dd>
          <dt>code called</dt><dd class="mono" id="divergence-actual">{d.actual || "-"}</dd>
          {d.location && <dt>at</dt>}
          {d.location && <dd class="mono" id="divergence-location">{d.location}</dd>}
        </dl>
        <p class="note">
          Its hooks, waits and streams stay live. It resumes by itself once code that replays it
          runs (the old code back, or a <code>patched()</code> branch).
        </p>
      </section>
    );
  }
  if (run.status === "completed") {
    return (
      <section class="card outcome ok">
        <h2>Result</h2>
        <pre class="value">{pretty(run.output)}</pre>
      </section>
    );
  }
  if (run.error) {
    return (
      <section class="card outcome failed">
        <h2>Error</h2>
        <p class="error-line" id="run-error">{errorLine(run.error)}</p>
        {run.error.traceback && (
          <details class="traceback" open>
            <summary>traceback</summary>
            <pre>{run.error.traceback}</pre>
          </details>
        )}
      </section>
    );
  }
  if (run.status === "cancelled") {
    return <p class="note">This run was cancelled.</p>;
  }
  return null;
}

function Hooks({ hooks, events }) {
  if (!hooks.length) return null;
  const received = {};
  for (const e of events) {
    if (e.type === "hook_received") received[e.correlation_id] = (received[e.correlation_id] || 0) + 1;
  }
  return (
    <section class="card">
      <h2>Hooks</h2>
      <table class="plain">
        <thead>
          <tr><th>token</th><th>status</th><th>created</th><th class="num">payloads</th></tr>
        </thead>
        <tbody>
          {hooks.map((hook) => (
            <tr>
              <td class="mono">{hook.token}</td>
              <td><Badge status={hook.status} /></td>
              <td class="muted">{fmtTime(hook.created_at)}</td>
              <td class="num">{received[hook.correlation_id] || 0}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </section>
  );
}

const STREAM_SHOWN = 500;

function StreamView({ stream, ended, onNamespace }) {
  const shown = stream.chunks.slice(-STREAM_SHOWN);
  // A run that ended may leave a stream unclosed: it is followed still, but calling it live would mislead.
  const state = stream.closed ? "closed" : stream.error ? "reconnecting" : ended ? "open" : "live";
  return (
    <section class="card stream">
      <div class="title-row">
        <h2>Stream</h2>
        <label class="namespace">
          <span>namespace</span>
          <input value={stream.namespace} onChange={(e) => onNamespace(e.target.value.trim() || "default")} />
        </label>
        <span class={`stream-state ${state}`}>{state}</span>
        <span class="muted">{stream.chunks.length} chunks</span>
      </div>
      {stream.chunks.length === 0 ? (
        <p class="empty">{stream.closed ? "The stream was closed empty." : ended ? "No chunks." : "No chunks yet."}</p>
      ) : (
        <ol class="chunks" id="chunks">
          {stream.chunks.length > shown.length && (
            <li class="muted">… {stream.chunks.length - shown.length} earlier chunks</li>
          )}
          {shown.map((chunk) => (
            <li>
              <span class="index">{chunk.index}</span>
              <code>{compact(chunk.value, 300)}</code>
            </li>
          ))}
        </ol>
      )}
    </section>
  );
}

function eventClass(type) {
  if (type.endsWith("_failed") || type === "step_retrying") return "ev-bad";
  if (type.endsWith("_completed")) return "ev-good";
  if (type.endsWith("_cancelled")) return "ev-dim";
  return "";
}

function EventLog({ events, origin }) {
  return (
    <section class="card">
      <h2>Events <span class="muted">({events.length})</span></h2>
      <table class="plain events">
        <thead>
          <tr><th class="num">seq</th><th>time</th><th>type</th><th>correlation</th><th>payload</th></tr>
        </thead>
        <tbody>
          {events.map((e) => (
            <tr key={e.seq} data-type={e.type}>
              <td class="num">{e.seq}</td>
              <td class="muted num">{fmtOffset(e.at, origin)}</td>
              <td class={`mono ${eventClass(e.type)}`}>{e.type}</td>
              <td class="mono muted">{e.correlation_id || ""}</td>
              <td class="payload">
                {e.payload && Object.keys(e.payload).length > 0 && (
                  <details>
                    <summary><code>{compact(e.payload, 90)}</code></summary>
                    <pre>{pretty(e.payload)}</pre>
                  </details>
                )}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </section>
  );
}

function RunPage({ view, now, onCancel, onNamespace }) {
  if (view.error && !view.detail) {
    return (
      <main class="page">
        <p><a href="#/">← All runs</a></p>
        <p class="error-banner">{view.error}</p>
      </main>
    );
  }
  if (!view.detail) return <main class="page"><p class="empty">Loading…</p></main>;
  const { run, hooks } = view.detail;
  return (
    <main class="page" key={run.id}>
      <p><a href="#/">← All runs</a></p>
      {view.error && <p class="error-banner" key="error">{view.error}</p>}
      <RunHeader key="header" run={run} now={now} cancelling={view.cancelling} onCancel={onCancel} />
      <Outcome key="outcome" run={run} />
      <section class="card" key="timeline">
        <h2>Timeline</h2>
        <Timeline detail={view.detail} events={view.events} now={now} />
      </section>
      <Hooks key="hooks" hooks={hooks} events={view.events} />
      <StreamView key="stream" stream={view.stream} ended={TERMINAL.has(run.status)} onNamespace={onNamespace} />
      <EventLog key="events" events={view.events} origin={run.created_at} />
    </main>
  );
}
