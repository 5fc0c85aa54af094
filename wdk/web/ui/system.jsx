// The system view (#/system): runs by status, the queue, the live workers and
// their leases, the schedules, and the runs that ended per minute (a small bar chart of divs: the
// page draws everything itself, no library, no CDN).

const SYSTEM_MINUTES = 15;
const ENDED = ["completed", "failed", "cancelled"];

function StatusCounts({ counts }) {
  const statuses = [...STATUSES, ...Object.keys(counts).filter((s) => !STATUSES.includes(s)).sort()];
  return (
    <div class="counts" id="counts">
      {statuses.map((status) => (
        <a class="count" href={runsHash(status, "")} data-status={status} key={status}>
          <span class="count-n">{counts[status] || 0}</span>
          <Badge status={status} />
        </a>
      ))}
    </div>
  );
}

function QueueCard({ queue }) {
  const cells = [
    ["ready", "ready now"],
    ["scheduled", "scheduled (sleeps, retries)"],
    ["leased", "leased by a worker"],
  ];
  return (
    <section class="card system-card">
      <h2>Queue</h2>
      <div class="queue">
        {cells.map(([name, label]) => (
          <div class="queue-cell" key={name}>
            <span class="count-n" id={`queue-${name}`}>{queue[name]}</span>
            <span class="muted">{label}</span>
          </div>
        ))}
      </div>
    </section>
  );
}

function WorkersCard({ workers, at }) {
  return (
    <section class="card system-card">
      <h2>Workers</h2>
      {workers.length === 0 ? (
        <p class="empty" id="no-workers">No worker is running.</p>
      ) : (
        <table class="workers">
          <thead>
            <tr>
              <th>worker</th>
              <th class="num">leases</th>
              <th class="num">renewed until</th>
            </tr>
          </thead>
          <tbody>
            {workers.map((w) => (
              <tr class="worker-row" data-worker={w.worker_id} key={w.worker_id} title={w.owners.join("\n")}>
                <td class="mono">{w.worker_id}</td>
                <td class="num leases">{w.leases}</td>
                <td class="num muted">
                  {w.expires_at === null ? "-" : `in ${fmtDuration(Math.max(0, w.expires_at - at))}`}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}

function ThroughputChart({ throughput }) {
  const totals = throughput.map((m) => ENDED.reduce((sum, s) => sum + m[s], 0));
  const peak = Math.max(1, ...totals);
  const total = totals.reduce((a, b) => a + b, 0);
  const clock = (t) => fmtTime(t).slice(11, 16);
  return (
    <section class="card system-card wide">
      <h2>
        Throughput <span class="muted" id="throughput-total">{total} runs ended in the last {throughput.length} min</span>
      </h2>
      <div class="chart" role="img" aria-label="runs ended per minute">
        {throughput.map((m, i) => (
          <div class="col" data-minute={m.minute} data-total={totals[i]} key={m.minute}
               title={`${clock(m.minute)}: ${ENDED.map((s) => `${m[s]} ${s}`).join(", ")}`}>
            {ENDED.filter((s) => m[s] > 0).map((s) => (
              <div class={`seg s-${s}`} key={s} style={{ height: `${(100 * m[s]) / peak}%` }} />
            ))}
          </div>
        ))}
      </div>
      <div class="chart-axis muted">
        <span>{throughput.length ? clock(throughput[0].minute) : ""}</span>
        <span>peak {peak}/min</span>
        <span>{throughput.length ? clock(throughput[throughput.length - 1].minute) : ""}</span>
      </div>
    </section>
  );
}

function SchedulesCard({ schedules }) {
  return (
    <section class="card system-card">
      <h2>
        <a href="#/schedules">Schedules</a>
      </h2>
      {schedules.total === 0 ? (
        <p class="empty" id="no-schedules">No schedule declared.</p>
      ) : (
        <div class="queue">
          <div class="queue-cell">
            <span class="count-n" id="schedules-total">{schedules.total}</span>
            <span class="muted">{schedules.paused ? `${schedules.paused} paused` : "none paused"}</span>
          </div>
          {schedules.next && (
            <div class="queue-cell" id="schedules-next">
              <span class="mono">{schedules.next.name}</span>
              <span class="muted">fires next at {fmtTime(schedules.next.at)}</span>
            </div>
          )}
        </div>
      )}
    </section>
  );
}

function SystemPage({ system }) {
  const data = system.data;
  return (
    <main class="page">
      <div class="toolbar">
        <h1>System</h1>
      </div>
      {system.error && <p class="error-banner">{system.error}</p>}
      {data === null ? (
        <p class="empty">Loading…</p>
      ) : (
        <>
          <StatusCounts counts={data.counts} key="counts" />
          <div class="system-grid" key="grid">
            <QueueCard queue={data.queue} />
            <WorkersCard workers={data.workers} at={data.at} />
            <ThroughputChart throughput={data.throughput} />
            <SchedulesCard schedules={data.schedules} />
          </div>
        </>
      )}
    </main>
  );
}
