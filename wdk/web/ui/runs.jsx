// The runs list: newest first, a status filter, a workflow filter, paging.

function runsHash(status, workflow) {
  const query = new URLSearchParams();
  if (status) query.set("status", status);
  if (workflow) query.set("workflow", workflow);
  const text = query.toString();
  return text ? `#/?${text}` : "#/";
}

function StatusFilter({ status, workflow }) {
  return (
    <nav class="filter" aria-label="status filter">
      {["", ...STATUSES].map((s) => (
        <a
          class={s === status ? "chip on" : "chip"}
          href={runsHash(s, workflow)}
          data-status={s || "all"}
        >
          {s || "all"}
        </a>
      ))}
    </nav>
  );
}

function WorkflowFilter({ status, workflow, known }) {
  const apply = (event) => {
    location.hash = runsHash(status, event.target.value.trim());
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
  const { status, workflow } = route;
  return (
    <main class="page">
      <div class="toolbar">
        <h1>Runs</h1>
        <StatusFilter status={status} workflow={workflow} />
        <WorkflowFilter status={status} workflow={workflow} known={runs.workflows} />
      </div>
      {runs.error && <p class="error-banner">{runs.error}</p>}
      {runs.items === null ? (
        <p class="empty">Loading…</p>
      ) : runs.items.length === 0 ? (
        <p class="empty">
          {status || workflow
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
