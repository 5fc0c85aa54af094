// Formatting shared by the pages: the same words and units as `wdk inspect`.

const STATUSES = ["pending", "running", "blocked", "completed", "failed", "cancelled"];
const TERMINAL = new Set(["completed", "failed", "cancelled"]);

function pad(n) {
  return String(n).padStart(2, "0");
}

function fmtTime(ts) {
  if (ts === null || ts === undefined) return "-";
  const d = new Date(ts * 1000);
  return (
    `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ` +
    `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`
  );
}

function fmtDuration(seconds) {
  if (seconds === null || seconds === undefined) return "-";
  if (seconds < 1) return `${Math.round(seconds * 1000)} ms`;
  if (seconds < 120) return `${seconds.toFixed(2)} s`;
  if (seconds < 7200) return `${(seconds / 60).toFixed(1)} min`;
  return `${(seconds / 3600).toFixed(1)} h`;
}

function fmtOffset(at, origin) {
  return at === null || at === undefined ? "" : `+${fmtDuration(Math.max(0, at - origin))}`;
}

// "workflow//shop.orders//checkout" -> "shop.orders:checkout"
function shortWorkflow(id) {
  const parts = id.split("//");
  return parts.length === 3 ? `${parts[1]}:${parts[2]}` : id;
}

// "step//shop.orders//charge" -> "charge"
function shortStep(id) {
  const parts = id.split("//");
  return parts.length === 3 ? parts[2] : id;
}

function typeName(name) {
  return String(name || "Error").split(".").pop();
}

function errorLine(error) {
  return `${typeName(error.type)}: ${error.message || ""}`;
}

// Call order from a correlation id like "step_3_9f2c...".
function position(correlationId) {
  const match = /^[a-z]+_(\d+)_/.exec(correlationId || "");
  return match ? Number(match[1]) : 0;
}

function runEnd(run, now) {
  if (run.completed_at !== null && run.completed_at !== undefined) return run.completed_at;
  return TERMINAL.has(run.status) ? run.updated_at : now;
}

function runDuration(run, now) {
  return Math.max(0, runEnd(run, now) - (run.started_at || run.created_at));
}

function compact(value, limit = 100) {
  const text = JSON.stringify(value) ?? String(value);
  return text.length <= limit ? text : `${text.slice(0, limit - 1)}…`;
}

function pretty(value) {
  return JSON.stringify(value, null, 2) ?? String(value);
}

function Badge({ status }) {
  return <span class={`badge s-${status}`}>{status}</span>;
}

// fetch() the JSON API; a non-2xx answer throws its {"error"} message.
async function api(path, options) {
  const response = await fetch(path, options);
  const body = await response.json().catch(() => null);
  if (!response.ok) {
    throw new Error((body && body.error) || `${response.status} ${response.statusText}`);
  }
  return body;
}
