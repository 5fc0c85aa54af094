// The runs list: newest first, a status filter, a workflow filter, paging.

// "since" choices of the time filter: runs created in the last ... (seconds).
const SINCE = [
  ["", "any time"],
  ["15m", "last 15 min"],
  ["1h", "last hour"],
  ["24h", "last 24 h"],
  ["7d", "last 7 days"],
];
const SINCE_SECONDS = { "15m": 900, "1h": 3600, "24h": 86400, "7d": 604800 };

function runsHash(status, workflow, since) {
  const query = new URLSearchParams();
  if (status) query.set("status", status);
  if (workflow) query.set("workflow", workflow);
  if (since) query.set("since", since);
  const text = query.toString();
  return text ? `#/?${text}` : "#/";
}

function TimeFilter({ status, workflow, since }) {
  const apply = (event) => {
    location.hash = runsHash(status, workflow, event.target.value);
  };
  return (
    <label class="time-filter">
      <span>created</span>
      <select id="since" value={since} onChange={apply}>
        {SINCE.map(([value, label]) => (
          <option value={value}>{label}</option>
        ))}
      </select>
    </label>
  );
}

function StatusFilter({ status, workflow, since }) {
  return (
    <nav class="filter" aria-label="status filter">
      {["", ...STATUSES].map((s) => (
        <a
          class={s === status ? "chip on" : "chip"}
          href={runsHash(s, workflow, since)}
          data-status={s || "all"}
        >
          {s || "all"}
        </a>
      ))}
    </nav>
  );
}

function WorkflowFilter({ status, workflow, since, known }) {
  const apply = (event) => {
    location.hash = runsHash(status, event.target.value.trim(), since);
  };
  return (
    <label class="workflow-filter">
      <span>workflow</span>
      <input
        type="search"
        list="workflows"
        placeholder="module:function"
        value={workflow}
        onChange={apply}
      />
      <datalist id="workflows">
        {[...known].sort().map((w) => (
          <option value={w} />
        ))}
      </datalist>
    </label>
  );
}

function RunRow({ run, now }) {
  return (
    <tr class="run-row" data-run={run.id} data-status={run.status}>
      <td class="mono">
        <a href={`#/run/${run.id}`}>{run.id}</a>
      </td>
      <td>{shortWorkflow(run.workflow_id)}</td>
      <td>
        <Badge status={run.status} />
      </td>
      <td class="muted">{fmtTime(run.created_at)}</td>
      <td class="num">{fmtDuration(runDuration(run, now))}</td>
      <td class="mono muted code-version">{run.code_version || "-"}</td>
    </tr>
  );
}

function RunsPage({ runs, route, now, onOlder, onNewer }) {
  const { status, workflow, since } = route;
  return (
    <main class="page">
      <div class="toolbar">
        <h1>Runs</h1>
        <StatusFilter status={status} workflow={workflow} since={since} />
        <WorkflowFilter status={status} workflow={workflow} since={since} known={runs.workflows} />
        <TimeFilter status={status} workflow={workflow} since={since} />
      </div>
      {runs.error && <p class="error-banner">{runs.error}</p>}
      {runs.items === null ? (
        <p class="empty">Loading…</p>
      ) : runs.items.length === 0 ? (
        <p class="empty">
          {status || workflow || since
            ? "No runs match these filters."
            : "No runs yet. Start one with `wdk start module:function`."}
        </p>
      ) : (
        <div class="card">
          <table class="runs">
            <thead>
              <tr>
                <th>run</th>
                <th>workflow</th>
                <th>status</th>
                <th>created</th>
                <th class="num">duration</th>
                <th>code</th>
              </tr>
            </thead>
            <tbody>
              {runs.items.map((run) => (
                <RunRow key={run.id} run={run} now={now} />
              ))}
            </tbody>
          </table>
        </div>
      )}
      <div class="pager">
        <button type="button" disabled={runs.back.length === 0} onClick={onNewer}>
          ← Newer
        </button>
        <button type="button" disabled={!runs.next} onClick={onOlder}>
          Older →
        </button>
      </div>
    </main>
  );
}
