// The schedules list (wdk.schedule): cron, zone, overlap, next fire, pause / resume.

function ScheduleRow({ schedule, onToggle }) {
  const s = schedule;
  return (
    <tr class="schedule-row" data-schedule={s.name} data-paused={s.paused ? "1" : "0"}>
      <td class="mono">{s.name}</td>
      <td>{shortWorkflow(s.workflow_id)}</td>
      <td class="mono">{s.cron}</td>
      <td>{s.tz}</td>
      <td>{s.overlap}</td>
      <td class="muted">{s.next_fire ? fmtTime(s.next_fire) : "-"}</td>
      <td class="muted">{s.last_tick ? fmtTime(s.last_tick) : "-"}</td>
      <td>
        {s.last_run_id ? <a class="mono" href={`#/run/${s.last_run_id}`}>{s.last_run_id.slice(0, 18)}</a> : "-"}
      </td>
      <td>
        <button type="button" class="toggle" onClick={() => onToggle(s)}>
          {s.paused ? "Resume" : "Pause"}
        </button>
      </td>
    </tr>
  );
}

function SchedulesPage({ schedules, onToggle }) {
  return (
    <main class="page">
      <div class="toolbar">
        <h1>Schedules</h1>
      </div>
      {schedules.error && <p class="error-banner">{schedules.error}</p>}
      {schedules.items === null ? (
        <p class="empty">Loading…</p>
      ) : schedules.items.length === 0 ? (
        <p class="empty">No schedules yet: a worker that imports a wdk.schedule(...) declaration lists it here.</p>
      ) : (
        <div class="card">
          <table class="schedules">
            <thead>
              <tr>
                <th>name</th>
                <th>workflow</th>
                <th>cron</th>
                <th>zone</th>
                <th>overlap</th>
                <th>next fire</th>
                <th>last tick</th>
                <th>last run</th>
                <th />
              </tr>
            </thead>
            <tbody>
              {schedules.items.map((s) => (
                <ScheduleRow key={s.name} schedule={s} onToggle={onToggle} />
              ))}
            </tbody>
          </table>
        </div>
      )}
    </main>
  );
}
