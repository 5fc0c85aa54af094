// Built by scripts/build_ui.py from wdk/web/ui/*.jsx: edit those, then rebuild.
(() => {
"use strict";

// --- h.jsx ---
const Fragment = Symbol("Fragment");
function h(tag, props, ...children) {
  if (typeof tag === "function") {
    const out = tag({ ...props || {}, children: flatten(children) });
    if (props && props.key !== void 0 && out && out.props)
      out.props = { ...out.props, key: props.key };
    return out;
  }
  if (tag === Fragment)
    return flatten(children);
  return { tag, props: props || {}, children: flatten(children) };
}
function flatten(list, out = []) {
  for (const child of list) {
    if (Array.isArray(child))
      flatten(child, out);
    else if (child === null || child === void 0 || child === false || child === true)
      continue;
    else if (typeof child === "object")
      out.push(child);
    else
      out.push({ text: String(child) });
  }
  return out;
}
function render(vnode, container) {
  patchChildren(container, flatten([vnode]));
}
function create(v) {
  if (v.text !== void 0)
    return document.createTextNode(v.text);
  const el = document.createElement(v.tag);
  patchChildren(el, v.children);
  setProps(el, v.props, {});
  return el;
}
function sameKind(node, v) {
  if (v.text !== void 0)
    return node.nodeType === Node.TEXT_NODE;
  return node.nodeType === Node.ELEMENT_NODE && node.localName === v.tag && node._key === v.props.key;
}
function patch(node, v) {
  if (v.text !== void 0) {
    if (node.nodeValue !== v.text)
      node.nodeValue = v.text;
    return;
  }
  patchChildren(node, v.children);
  setProps(node, v.props, node._props || {});
}
function patchChildren(parent, vnodes) {
  const keyed = /* @__PURE__ */ new Map();
  const unkeyed = [];
  for (const node of Array.from(parent.childNodes)) {
    if (node._key !== void 0)
      keyed.set(node._key, node);
    else
      unkeyed.push(node);
  }
  let next = 0;
  vnodes.forEach((v, i) => {
    const key = v.props ? v.props.key : void 0;
    let node;
    if (key !== void 0) {
      node = keyed.get(key);
      keyed.delete(key);
    } else {
      node = unkeyed[next++];
    }
    if (node && sameKind(node, v)) {
      patch(node, v);
    } else {
      if (node)
        node.remove();
      node = create(v);
    }
    const here = parent.childNodes[i];
    if (here !== node)
      parent.insertBefore(node, here || null);
  });
  for (const node of keyed.values())
    node.remove();
  for (; next < unkeyed.length; next++)
    unkeyed[next].remove();
}
const LIVE_PROPS = /* @__PURE__ */ new Set(["value", "checked"]);
function setProps(el, props, old) {
  for (const name in old)
    if (!(name in props))
      setProp(el, name, null, old[name]);
  for (const name in props) {
    if (props[name] !== old[name] || LIVE_PROPS.has(name))
      setProp(el, name, props[name], old[name]);
  }
  el._props = props;
  el._key = props.key;
}
function setProp(el, name, value, old) {
  if (name === "key" || name === "children")
    return;
  if (name.startsWith("on")) {
    el[name.toLowerCase()] = value || null;
  } else if (LIVE_PROPS.has(name)) {
    const want = name === "checked" ? Boolean(value) : value == null ? "" : String(value);
    if (el[name] !== want)
      el[name] = want;
  } else if (name === "style") {
    for (const key in old || {})
      if (!value || !(key in value))
        el.style.removeProperty(key);
    for (const key in value || {})
      el.style.setProperty(key, value[key]);
  } else if (value === null || value === void 0 || value === false) {
    el.removeAttribute(name);
  } else {
    el.setAttribute(name, value === true ? "" : String(value));
  }
}

// --- format.jsx ---
const STATUSES = ["pending", "running", "blocked", "completed", "failed", "cancelled"];
const TERMINAL = /* @__PURE__ */ new Set(["completed", "failed", "cancelled"]);
function pad(n) {
  return String(n).padStart(2, "0");
}
function fmtTime(ts) {
  if (ts === null || ts === void 0)
    return "-";
  const d = new Date(ts * 1e3);
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}
function fmtDuration(seconds) {
  if (seconds === null || seconds === void 0)
    return "-";
  if (seconds < 1)
    return `${Math.round(seconds * 1e3)} ms`;
  if (seconds < 120)
    return `${seconds.toFixed(2)} s`;
  if (seconds < 7200)
    return `${(seconds / 60).toFixed(1)} min`;
  return `${(seconds / 3600).toFixed(1)} h`;
}
function fmtOffset(at, origin) {
  return at === null || at === void 0 ? "" : `+${fmtDuration(Math.max(0, at - origin))}`;
}
function shortWorkflow(id) {
  const parts = id.split("//");
  return parts.length === 3 ? `${parts[1]}:${parts[2]}` : id;
}
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
function position(correlationId) {
  const match = /^[a-z]+_(\d+)_/.exec(correlationId || "");
  return match ? Number(match[1]) : 0;
}
function runEnd(run, now) {
  if (run.completed_at !== null && run.completed_at !== void 0)
    return run.completed_at;
  return TERMINAL.has(run.status) ? run.updated_at : now;
}
function runDuration(run, now) {
  return Math.max(0, runEnd(run, now) - (run.started_at || run.created_at));
}
function compact(value, limit = 100) {
  const text = JSON.stringify(value) ?? String(value);
  return text.length <= limit ? text : `${text.slice(0, limit - 1)}\u2026`;
}
function pretty(value) {
  return JSON.stringify(value, null, 2) ?? String(value);
}
function Badge({ status }) {
  return /* @__PURE__ */ h("span", { class: `badge s-${status}` }, status);
}
const CSRF = document.querySelector('meta[name="wdk-csrf"]')?.content || "";
async function api(path, options = {}) {
  const headers = { "x-wdk-csrf": CSRF, ...options.headers || {} };
  if (options.method === "POST") {
    headers["content-type"] = "application/json";
  }
  const response = await fetch(path, { credentials: "same-origin", ...options, headers });
  const body = await response.json().catch(() => null);
  if (!response.ok) {
    throw new Error(body && body.error || `${response.status} ${response.statusText}`);
  }
  return body;
}

// --- runs.jsx ---
const SINCE = [
  ["", "any time"],
  ["15m", "last 15 min"],
  ["1h", "last hour"],
  ["24h", "last 24 h"],
  ["7d", "last 7 days"]
];
const SINCE_SECONDS = { "15m": 900, "1h": 3600, "24h": 86400, "7d": 604800 };
function runsHash(status, workflow, since) {
  const query = new URLSearchParams();
  if (status)
    query.set("status", status);
  if (workflow)
    query.set("workflow", workflow);
  if (since)
    query.set("since", since);
  const text = query.toString();
  return text ? `#/?${text}` : "#/";
}
function TimeFilter({ status, workflow, since }) {
  const apply = (event) => {
    location.hash = runsHash(status, workflow, event.target.value);
  };
  return /* @__PURE__ */ h("label", { class: "time-filter" }, /* @__PURE__ */ h("span", null, "created"), /* @__PURE__ */ h("select", { id: "since", value: since, onChange: apply }, SINCE.map(([value, label]) => /* @__PURE__ */ h("option", { value }, label))));
}
function StatusFilter({ status, workflow, since }) {
  return /* @__PURE__ */ h("nav", { class: "filter", "aria-label": "status filter" }, ["", ...STATUSES].map((s) => /* @__PURE__ */ h(
    "a",
    {
      class: s === status ? "chip on" : "chip",
      href: runsHash(s, workflow, since),
      "data-status": s || "all"
    },
    s || "all"
  )));
}
function WorkflowFilter({ status, workflow, since, known }) {
  const apply = (event) => {
    location.hash = runsHash(status, event.target.value.trim(), since);
  };
  return /* @__PURE__ */ h("label", { class: "workflow-filter" }, /* @__PURE__ */ h("span", null, "workflow"), /* @__PURE__ */ h(
    "input",
    {
      type: "search",
      list: "workflows",
      placeholder: "module:function",
      value: workflow,
      onChange: apply
    }
  ), /* @__PURE__ */ h("datalist", { id: "workflows" }, [...known].sort().map((w) => /* @__PURE__ */ h("option", { value: w }))));
}
function RunRow({ run, now }) {
  return /* @__PURE__ */ h("tr", { class: "run-row", "data-run": run.id, "data-status": run.status }, /* @__PURE__ */ h("td", { class: "mono" }, /* @__PURE__ */ h("a", { href: `#/run/${run.id}` }, run.id)), /* @__PURE__ */ h("td", null, shortWorkflow(run.workflow_id)), /* @__PURE__ */ h("td", null, /* @__PURE__ */ h(Badge, { status: run.status })), /* @__PURE__ */ h("td", { class: "muted" }, fmtTime(run.created_at)), /* @__PURE__ */ h("td", { class: "num" }, fmtDuration(runDuration(run, now))), /* @__PURE__ */ h("td", { class: "mono muted code-version" }, run.code_version || "-"));
}
function RunsPage({ runs, route, now, onOlder, onNewer }) {
  const { status, workflow, since } = route;
  return /* @__PURE__ */ h("main", { class: "page" }, /* @__PURE__ */ h("div", { class: "toolbar" }, /* @__PURE__ */ h("h1", null, "Runs"), /* @__PURE__ */ h(StatusFilter, { status, workflow, since }), /* @__PURE__ */ h(WorkflowFilter, { status, workflow, since, known: runs.workflows }), /* @__PURE__ */ h(TimeFilter, { status, workflow, since })), runs.error && /* @__PURE__ */ h("p", { class: "error-banner" }, runs.error), runs.items === null ? /* @__PURE__ */ h("p", { class: "empty" }, "Loading\u2026") : runs.items.length === 0 ? /* @__PURE__ */ h("p", { class: "empty" }, status || workflow || since ? "No runs match these filters." : "No runs yet. Start one with `wdk start module:function`.") : /* @__PURE__ */ h("div", { class: "card" }, /* @__PURE__ */ h("table", { class: "runs" }, /* @__PURE__ */ h("thead", null, /* @__PURE__ */ h("tr", null, /* @__PURE__ */ h("th", null, "run"), /* @__PURE__ */ h("th", null, "workflow"), /* @__PURE__ */ h("th", null, "status"), /* @__PURE__ */ h("th", null, "created"), /* @__PURE__ */ h("th", { class: "num" }, "duration"), /* @__PURE__ */ h("th", null, "code"))), /* @__PURE__ */ h("tbody", null, runs.items.map((run) => /* @__PURE__ */ h(RunRow, { key: run.id, run, now }))))), /* @__PURE__ */ h("div", { class: "pager" }, /* @__PURE__ */ h("button", { type: "button", disabled: runs.back.length === 0, onClick: onNewer }, "\u2190 Newer"), /* @__PURE__ */ h("button", { type: "button", disabled: !runs.next, onClick: onOlder }, "Older \u2192")));
}

// --- system.jsx ---
const SYSTEM_MINUTES = 15;
const ENDED = ["completed", "failed", "cancelled"];
function StatusCounts({ counts }) {
  const statuses = [...STATUSES, ...Object.keys(counts).filter((s) => !STATUSES.includes(s)).sort()];
  return /* @__PURE__ */ h("div", { class: "counts", id: "counts" }, statuses.map((status) => /* @__PURE__ */ h("a", { class: "count", href: runsHash(status, ""), "data-status": status, key: status }, /* @__PURE__ */ h("span", { class: "count-n" }, counts[status] || 0), /* @__PURE__ */ h(Badge, { status }))));
}
function QueueCard({ queue }) {
  const cells = [
    ["ready", "ready now"],
    ["scheduled", "scheduled (sleeps, retries)"],
    ["leased", "leased by a worker"]
  ];
  return /* @__PURE__ */ h("section", { class: "card system-card" }, /* @__PURE__ */ h("h2", null, "Queue"), /* @__PURE__ */ h("div", { class: "queue" }, cells.map(([name, label]) => /* @__PURE__ */ h("div", { class: "queue-cell", key: name }, /* @__PURE__ */ h("span", { class: "count-n", id: `queue-${name}` }, queue[name]), /* @__PURE__ */ h("span", { class: "muted" }, label)))));
}
function WorkersCard({ workers, at }) {
  return /* @__PURE__ */ h("section", { class: "card system-card" }, /* @__PURE__ */ h("h2", null, "Workers"), workers.length === 0 ? /* @__PURE__ */ h("p", { class: "empty", id: "no-workers" }, "No worker is running.") : /* @__PURE__ */ h("table", { class: "workers" }, /* @__PURE__ */ h("thead", null, /* @__PURE__ */ h("tr", null, /* @__PURE__ */ h("th", null, "worker"), /* @__PURE__ */ h("th", { class: "num" }, "leases"), /* @__PURE__ */ h("th", { class: "num" }, "renewed until"))), /* @__PURE__ */ h("tbody", null, workers.map((w) => /* @__PURE__ */ h("tr", { class: "worker-row", "data-worker": w.worker_id, key: w.worker_id, title: w.owners.join("\n") }, /* @__PURE__ */ h("td", { class: "mono" }, w.worker_id), /* @__PURE__ */ h("td", { class: "num leases" }, w.leases), /* @__PURE__ */ h("td", { class: "num muted" }, w.expires_at === null ? "-" : `in ${fmtDuration(Math.max(0, w.expires_at - at))}`))))));
}
function ThroughputChart({ throughput }) {
  const totals = throughput.map((m) => ENDED.reduce((sum, s) => sum + m[s], 0));
  const peak = Math.max(1, ...totals);
  const total = totals.reduce((a, b) => a + b, 0);
  const clock = (t) => fmtTime(t).slice(11, 16);
  return /* @__PURE__ */ h("section", { class: "card system-card wide" }, /* @__PURE__ */ h("h2", null, "Throughput ", /* @__PURE__ */ h("span", { class: "muted", id: "throughput-total" }, total, " runs ended in the last ", throughput.length, " min")), /* @__PURE__ */ h("div", { class: "chart", role: "img", "aria-label": "runs ended per minute" }, throughput.map((m, i) => /* @__PURE__ */ h(
    "div",
    {
      class: "col",
      "data-minute": m.minute,
      "data-total": totals[i],
      key: m.minute,
      title: `${clock(m.minute)}: ${ENDED.map((s) => `${m[s]} ${s}`).join(", ")}`
    },
    ENDED.filter((s) => m[s] > 0).map((s) => /* @__PURE__ */ h("div", { class: `seg s-${s}`, key: s, style: { height: `${100 * m[s] / peak}%` } }))
  ))), /* @__PURE__ */ h("div", { class: "chart-axis muted" }, /* @__PURE__ */ h("span", null, throughput.length ? clock(throughput[0].minute) : ""), /* @__PURE__ */ h("span", null, "peak ", peak, "/min"), /* @__PURE__ */ h("span", null, throughput.length ? clock(throughput[throughput.length - 1].minute) : "")));
}
function SchedulesCard({ schedules }) {
  return /* @__PURE__ */ h("section", { class: "card system-card" }, /* @__PURE__ */ h("h2", null, /* @__PURE__ */ h("a", { href: "#/schedules" }, "Schedules")), schedules.total === 0 ? /* @__PURE__ */ h("p", { class: "empty", id: "no-schedules" }, "No schedule declared.") : /* @__PURE__ */ h("div", { class: "queue" }, /* @__PURE__ */ h("div", { class: "queue-cell" }, /* @__PURE__ */ h("span", { class: "count-n", id: "schedules-total" }, schedules.total), /* @__PURE__ */ h("span", { class: "muted" }, schedules.paused ? `${schedules.paused} paused` : "none paused")), schedules.next && /* @__PURE__ */ h("div", { class: "queue-cell", id: "schedules-next" }, /* @__PURE__ */ h("span", { class: "mono" }, schedules.next.name), /* @__PURE__ */ h("span", { class: "muted" }, "fires next at ", fmtTime(schedules.next.at)))));
}
function SystemPage({ system }) {
  const data = system.data;
  return /* @__PURE__ */ h("main", { class: "page" }, /* @__PURE__ */ h("div", { class: "toolbar" }, /* @__PURE__ */ h("h1", null, "System")), system.error && /* @__PURE__ */ h("p", { class: "error-banner" }, system.error), data === null ? /* @__PURE__ */ h("p", { class: "empty" }, "Loading\u2026") : /* @__PURE__ */ h(Fragment, null, /* @__PURE__ */ h(StatusCounts, { counts: data.counts, key: "counts" }), /* @__PURE__ */ h("div", { class: "system-grid", key: "grid" }, /* @__PURE__ */ h(QueueCard, { queue: data.queue }), /* @__PURE__ */ h(WorkersCard, { workers: data.workers, at: data.at }), /* @__PURE__ */ h(ThroughputChart, { throughput: data.throughput }), /* @__PURE__ */ h(SchedulesCard, { schedules: data.schedules }))));
}

// --- timeline.jsx ---
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
      retryAt: step.retry_at
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
      until: wait.resume_at
    });
  }
  const run = detail.run;
  if (TERMINAL.has(run.status)) {
    for (const row of rows) {
      if (row.end !== null && row.end !== void 0)
        continue;
      row.end = Math.max(row.start, runEnd(run, now));
      row.cut = true;
      if (run.status === "cancelled")
        row.status = "cancelled";
    }
  }
  rows.sort((a, b) => position(a.id) - position(b.id));
  return rows;
}
function fmtTick(seconds, span) {
  return span < 0.02 ? `${(seconds * 1e3).toFixed(1)} ms` : fmtDuration(seconds);
}
function Bar({ start, end, origin, span, cls, title, open }) {
  const left = Math.min(100, Math.max(0, (start - origin) / span * 100));
  const right = Math.min(100, Math.max(0, (end - origin) / span * 100));
  return /* @__PURE__ */ h(
    "div",
    {
      class: `bar ${cls}${open ? " open" : ""}`,
      title,
      style: { left: `${left}%`, width: `${Math.max(0.4, right - left)}%` }
    }
  );
}
function StepTrack({ row, origin, span, now }) {
  const end = row.end ?? now;
  const segments = row.attempts.map((a) => /* @__PURE__ */ h(
    Bar,
    {
      start: a.start,
      end: a.end ?? end,
      origin,
      span,
      cls: `seg ${a.end === null && row.cut ? "cut" : a.outcome}`,
      title: `attempt ${a.attempt}: ${fmtOffset(a.start, origin)} \u2192 ${a.end ? fmtOffset(a.end, origin) : "now"}` + (a.error ? ` \xB7 ${errorLine(a.error)}` : "")
    }
  ));
  return /* @__PURE__ */ h("div", { class: "track" }, /* @__PURE__ */ h(Bar, { start: row.start, end, origin, span, cls: "span-line", title: row.name }), segments.length ? segments : /* @__PURE__ */ h(Bar, { start: row.start, end, origin, span, cls: "seg queued", title: "not started" }));
}
function SleepTrack({ row, origin, span, now }) {
  const end = row.end ?? Math.min(row.until, now);
  const beyond = row.end === null && row.until > origin + span;
  return /* @__PURE__ */ h("div", { class: "track" }, /* @__PURE__ */ h(
    Bar,
    {
      start: row.start,
      end,
      origin,
      span,
      cls: `sleep ${row.status}`,
      open: beyond,
      title: `sleep until ${fmtTime(row.until)}`
    }
  ));
}
function RetryErrors({ row, origin }) {
  const failed = row.attempts.filter((a) => a.error);
  if (!failed.length)
    return null;
  return /* @__PURE__ */ h("ul", { class: "attempt-errors" }, failed.map((a) => /* @__PURE__ */ h("li", { class: a.outcome }, /* @__PURE__ */ h("span", { class: "muted" }, "attempt ", a.attempt, " ", fmtOffset(a.end, origin)), " ", errorLine(a.error))), row.status === "retrying" && row.retryAt && /* @__PURE__ */ h("li", { class: "muted" }, "next attempt at ", fmtTime(row.retryAt)));
}
function Timeline({ detail, events, now }) {
  const run = detail.run;
  const origin = run.created_at;
  const rows = timelineRows(detail, events, now);
  if (!rows.length) {
    return /* @__PURE__ */ h("p", { class: "empty" }, TERMINAL.has(run.status) ? "This run made no steps or sleeps." : "No steps yet.");
  }
  let last = runEnd(run, now);
  for (const row of rows)
    if (row.end)
      last = Math.max(last, row.end);
  const span = Math.max(last - origin, 1e-3);
  const ticks = [0, 0.25, 0.5, 0.75, 1];
  return /* @__PURE__ */ h("div", { class: "timeline" }, /* @__PURE__ */ h("div", { class: "tl-row axis" }, /* @__PURE__ */ h("div", { class: "muted" }, rows.length, " ", rows.length === 1 ? "call" : "calls"), /* @__PURE__ */ h("div", { class: "track ticks" }, ticks.map((t) => /* @__PURE__ */ h("span", { style: { left: `${t * 100}%` } }, fmtTick(t * span, span)))), /* @__PURE__ */ h("div", { class: "tl-time muted" }, "start \xB7 took")), rows.map((row) => {
    const begin = row.attempts && row.attempts.length ? row.attempts[0].start : row.start;
    const took = row.end !== null && row.end !== void 0 && !row.cut ? row.end - begin : null;
    return /* @__PURE__ */ h("div", { class: `tl-item ${row.kind}`, "data-kind": row.kind, "data-status": row.status }, /* @__PURE__ */ h("div", { class: "tl-row" }, /* @__PURE__ */ h("div", { class: "tl-label" }, /* @__PURE__ */ h("span", { class: `kind k-${row.kind}` }, row.kind), /* @__PURE__ */ h("span", { class: "name", title: row.kind === "sleep" ? `${row.id}: until ${fmtTime(row.until)}` : row.id }, row.name), /* @__PURE__ */ h(Badge, { status: row.status }), row.kind === "step" && row.attempt > 1 && /* @__PURE__ */ h("span", { class: "attempts" }, row.attempt, " attempts")), row.kind === "step" ? /* @__PURE__ */ h(StepTrack, { row, origin, span, now }) : /* @__PURE__ */ h(SleepTrack, { row, origin, span, now }), /* @__PURE__ */ h("div", { class: "tl-time num" }, /* @__PURE__ */ h("span", { class: "muted" }, fmtOffset(row.start, origin)), /* @__PURE__ */ h("span", null, took !== null ? fmtDuration(took) : row.cut ? "ended" : row.kind === "sleep" ? `until ${fmtTime(row.until).slice(11)}` : "\u2026"))), row.kind === "step" && /* @__PURE__ */ h(RetryErrors, { row, origin }));
  }));
}

// --- run.jsx ---
function Field({ label, children }) {
  return /* @__PURE__ */ h("div", { class: "field" }, /* @__PURE__ */ h("dt", null, label), /* @__PURE__ */ h("dd", null, children));
}
function RunHeader({ run, now, cancelling, onCancel }) {
  return /* @__PURE__ */ h("section", { class: "card run-header" }, /* @__PURE__ */ h("div", { class: "title-row" }, /* @__PURE__ */ h("h1", null, shortWorkflow(run.workflow_id)), /* @__PURE__ */ h(Badge, { status: run.status }), /* @__PURE__ */ h("span", { class: "spacer" }), !TERMINAL.has(run.status) && /* @__PURE__ */ h("button", { type: "button", class: "danger", id: "cancel", disabled: cancelling, onClick: onCancel }, cancelling ? "Cancelling\u2026" : "Cancel run")), /* @__PURE__ */ h("dl", { class: "fields" }, /* @__PURE__ */ h(Field, { label: "run" }, /* @__PURE__ */ h("span", { class: "mono", id: "run-id" }, run.id)), /* @__PURE__ */ h(Field, { label: "created" }, fmtTime(run.created_at)), /* @__PURE__ */ h(Field, { label: "started" }, run.started_at ? fmtOffset(run.started_at, run.created_at) : "-"), /* @__PURE__ */ h(Field, { label: TERMINAL.has(run.status) ? "ended" : "updated" }, fmtTime(run.completed_at || run.updated_at)), /* @__PURE__ */ h(Field, { label: "duration" }, fmtDuration(runDuration(run, now))), run.parent_run_id && /* @__PURE__ */ h(Field, { label: "parent" }, /* @__PURE__ */ h("a", { class: "mono", href: `#/run/${run.parent_run_id}` }, run.parent_run_id)), run.idempotency_key && /* @__PURE__ */ h(Field, { label: "idempotency key" }, run.idempotency_key), run.code_version && /* @__PURE__ */ h(Field, { label: "code version" }, /* @__PURE__ */ h("span", { class: "mono", id: "code-version" }, run.code_version)), run.rerun_of && /* @__PURE__ */ h(Field, { label: "rerun of" }, /* @__PURE__ */ h("a", { class: "mono", href: `#/run/${run.rerun_of}` }, run.rerun_of))));
}
function Outcome({ run }) {
  if (run.status === "blocked" && run.divergence) {
    const d = run.divergence;
    return /* @__PURE__ */ h("section", { class: "card outcome blocked", id: "divergence" }, /* @__PURE__ */ h("h2", null, "Blocked by a code change"), /* @__PURE__ */ h("p", { class: "error-line" }, d.message), /* @__PURE__ */ h("dl", null, /* @__PURE__ */ h("dt", null, "history has"), /* @__PURE__ */ h("dd", { class: "mono", id: "divergence-expected" }, d.expected || "-"), /* @__PURE__ */ h("dt", null, "code called"), /* @__PURE__ */ h("dd", { class: "mono", id: "divergence-actual" }, d.actual || "-"), d.location && /* @__PURE__ */ h("dt", null, "at"), d.location && /* @__PURE__ */ h("dd", { class: "mono", id: "divergence-location" }, d.location)), /* @__PURE__ */ h("p", { class: "note" }, "Its hooks, waits and streams stay live. It resumes by itself once code that replays it runs (the old code back, or a ", /* @__PURE__ */ h("code", null, "patched()"), " branch)."));
  }
  if (run.status === "completed") {
    return /* @__PURE__ */ h("section", { class: "card outcome ok" }, /* @__PURE__ */ h("h2", null, "Result"), /* @__PURE__ */ h("pre", { class: "value" }, pretty(run.output)));
  }
  if (run.error) {
    return /* @__PURE__ */ h("section", { class: "card outcome failed" }, /* @__PURE__ */ h("h2", null, "Error"), /* @__PURE__ */ h("p", { class: "error-line", id: "run-error" }, errorLine(run.error)), run.error.traceback && /* @__PURE__ */ h("details", { class: "traceback", open: true }, /* @__PURE__ */ h("summary", null, "traceback"), /* @__PURE__ */ h("pre", null, run.error.traceback)));
  }
  if (run.status === "cancelled") {
    return /* @__PURE__ */ h("p", { class: "note" }, "This run was cancelled.");
  }
  return null;
}
function Hooks({ hooks, events }) {
  if (!hooks.length)
    return null;
  const received = {};
  for (const e of events) {
    if (e.type === "hook_received")
      received[e.correlation_id] = (received[e.correlation_id] || 0) + 1;
  }
  return /* @__PURE__ */ h("section", { class: "card" }, /* @__PURE__ */ h("h2", null, "Hooks"), /* @__PURE__ */ h("table", { class: "plain" }, /* @__PURE__ */ h("thead", null, /* @__PURE__ */ h("tr", null, /* @__PURE__ */ h("th", null, "token"), /* @__PURE__ */ h("th", null, "status"), /* @__PURE__ */ h("th", null, "created"), /* @__PURE__ */ h("th", { class: "num" }, "payloads"))), /* @__PURE__ */ h("tbody", null, hooks.map((hook) => /* @__PURE__ */ h("tr", null, /* @__PURE__ */ h("td", { class: "mono" }, hook.token), /* @__PURE__ */ h("td", null, /* @__PURE__ */ h(Badge, { status: hook.status })), /* @__PURE__ */ h("td", { class: "muted" }, fmtTime(hook.created_at)), /* @__PURE__ */ h("td", { class: "num" }, received[hook.correlation_id] || 0))))));
}
const STREAM_SHOWN = 500;
function StreamView({ stream, ended, onNamespace }) {
  const shown = stream.chunks.slice(-STREAM_SHOWN);
  const state = stream.closed ? "closed" : stream.error ? "reconnecting" : ended ? "open" : "live";
  return /* @__PURE__ */ h("section", { class: "card stream" }, /* @__PURE__ */ h("div", { class: "title-row" }, /* @__PURE__ */ h("h2", null, "Stream"), /* @__PURE__ */ h("label", { class: "namespace" }, /* @__PURE__ */ h("span", null, "namespace"), /* @__PURE__ */ h("input", { value: stream.namespace, onChange: (e) => onNamespace(e.target.value.trim() || "default") })), /* @__PURE__ */ h("span", { class: `stream-state ${state}` }, state), /* @__PURE__ */ h("span", { class: "muted" }, stream.chunks.length, " chunks")), stream.chunks.length === 0 ? /* @__PURE__ */ h("p", { class: "empty" }, stream.closed ? "The stream was closed empty." : ended ? "No chunks." : "No chunks yet.") : /* @__PURE__ */ h("ol", { class: "chunks", id: "chunks" }, stream.chunks.length > shown.length && /* @__PURE__ */ h("li", { class: "muted" }, "\u2026 ", stream.chunks.length - shown.length, " earlier chunks"), shown.map((chunk) => /* @__PURE__ */ h("li", null, /* @__PURE__ */ h("span", { class: "index" }, chunk.index), /* @__PURE__ */ h("code", null, compact(chunk.value, 300))))));
}
function eventClass(type) {
  if (type.endsWith("_failed") || type === "step_retrying")
    return "ev-bad";
  if (type.endsWith("_completed"))
    return "ev-good";
  if (type.endsWith("_cancelled"))
    return "ev-dim";
  return "";
}
function EventLog({ events, origin }) {
  return /* @__PURE__ */ h("section", { class: "card" }, /* @__PURE__ */ h("h2", null, "Events ", /* @__PURE__ */ h("span", { class: "muted" }, "(", events.length, ")")), /* @__PURE__ */ h("table", { class: "plain events" }, /* @__PURE__ */ h("thead", null, /* @__PURE__ */ h("tr", null, /* @__PURE__ */ h("th", { class: "num" }, "seq"), /* @__PURE__ */ h("th", null, "time"), /* @__PURE__ */ h("th", null, "type"), /* @__PURE__ */ h("th", null, "correlation"), /* @__PURE__ */ h("th", null, "payload"))), /* @__PURE__ */ h("tbody", null, events.map((e) => /* @__PURE__ */ h("tr", { key: e.seq, "data-type": e.type }, /* @__PURE__ */ h("td", { class: "num" }, e.seq), /* @__PURE__ */ h("td", { class: "muted num" }, fmtOffset(e.at, origin)), /* @__PURE__ */ h("td", { class: `mono ${eventClass(e.type)}` }, e.type), /* @__PURE__ */ h("td", { class: "mono muted" }, e.correlation_id || ""), /* @__PURE__ */ h("td", { class: "payload" }, e.payload && Object.keys(e.payload).length > 0 && /* @__PURE__ */ h("details", null, /* @__PURE__ */ h("summary", null, /* @__PURE__ */ h("code", null, compact(e.payload, 90))), /* @__PURE__ */ h("pre", null, pretty(e.payload)))))))));
}
function RunPage({ view, now, onCancel, onNamespace }) {
  if (view.error && !view.detail) {
    return /* @__PURE__ */ h("main", { class: "page" }, /* @__PURE__ */ h("p", null, /* @__PURE__ */ h("a", { href: "#/" }, "\u2190 All runs")), /* @__PURE__ */ h("p", { class: "error-banner" }, view.error));
  }
  if (!view.detail)
    return /* @__PURE__ */ h("main", { class: "page" }, /* @__PURE__ */ h("p", { class: "empty" }, "Loading\u2026"));
  const { run, hooks } = view.detail;
  return /* @__PURE__ */ h("main", { class: "page", key: run.id }, /* @__PURE__ */ h("p", null, /* @__PURE__ */ h("a", { href: "#/" }, "\u2190 All runs")), view.error && /* @__PURE__ */ h("p", { class: "error-banner", key: "error" }, view.error), /* @__PURE__ */ h(RunHeader, { key: "header", run, now, cancelling: view.cancelling, onCancel }), /* @__PURE__ */ h(Outcome, { key: "outcome", run }), /* @__PURE__ */ h("section", { class: "card", key: "timeline" }, /* @__PURE__ */ h("h2", null, "Timeline"), /* @__PURE__ */ h(Timeline, { detail: view.detail, events: view.events, now })), /* @__PURE__ */ h(Hooks, { key: "hooks", hooks, events: view.events }), /* @__PURE__ */ h(StreamView, { key: "stream", stream: view.stream, ended: TERMINAL.has(run.status), onNamespace }), /* @__PURE__ */ h(EventLog, { key: "events", events: view.events, origin: run.created_at }));
}

// --- schedules.jsx ---
function ScheduleRow({ schedule, onToggle }) {
  const s = schedule;
  return /* @__PURE__ */ h("tr", { class: "schedule-row", "data-schedule": s.name, "data-paused": s.paused ? "1" : "0" }, /* @__PURE__ */ h("td", { class: "mono" }, s.name), /* @__PURE__ */ h("td", null, shortWorkflow(s.workflow_id)), /* @__PURE__ */ h("td", { class: "mono" }, s.cron), /* @__PURE__ */ h("td", null, s.tz), /* @__PURE__ */ h("td", null, s.overlap), /* @__PURE__ */ h("td", { class: "muted" }, s.next_fire ? fmtTime(s.next_fire) : "-"), /* @__PURE__ */ h("td", { class: "muted" }, s.last_tick ? fmtTime(s.last_tick) : "-"), /* @__PURE__ */ h("td", null, s.last_run_id ? /* @__PURE__ */ h("a", { class: "mono", href: `#/run/${s.last_run_id}` }, s.last_run_id.slice(0, 18)) : "-"), /* @__PURE__ */ h("td", null, /* @__PURE__ */ h("button", { type: "button", class: "toggle", onClick: () => onToggle(s) }, s.paused ? "Resume" : "Pause")));
}
function SchedulesPage({ schedules, onToggle }) {
  return /* @__PURE__ */ h("main", { class: "page" }, /* @__PURE__ */ h("div", { class: "toolbar" }, /* @__PURE__ */ h("h1", null, "Schedules")), schedules.error && /* @__PURE__ */ h("p", { class: "error-banner" }, schedules.error), schedules.items === null ? /* @__PURE__ */ h("p", { class: "empty" }, "Loading\u2026") : schedules.items.length === 0 ? /* @__PURE__ */ h("p", { class: "empty" }, "No schedules yet: a worker that imports a wdk.schedule(...) declaration lists it here.") : /* @__PURE__ */ h("div", { class: "card" }, /* @__PURE__ */ h("table", { class: "schedules" }, /* @__PURE__ */ h("thead", null, /* @__PURE__ */ h("tr", null, /* @__PURE__ */ h("th", null, "name"), /* @__PURE__ */ h("th", null, "workflow"), /* @__PURE__ */ h("th", null, "cron"), /* @__PURE__ */ h("th", null, "zone"), /* @__PURE__ */ h("th", null, "overlap"), /* @__PURE__ */ h("th", null, "next fire"), /* @__PURE__ */ h("th", null, "last tick"), /* @__PURE__ */ h("th", null, "last run"), /* @__PURE__ */ h("th", null))), /* @__PURE__ */ h("tbody", null, schedules.items.map((s) => /* @__PURE__ */ h(ScheduleRow, { key: s.name, schedule: s, onToggle }))))));
}

// --- main.jsx ---
const REFRESH_MS = 2e3;
const state = {
  route: parseRoute(),
  now: Date.now() / 1e3,
  updated: null,
  // when the last refresh answered
  offline: null,
  // why the last refresh failed
  runs: freshRuns(),
  view: null,
  // the run page's data
  system: { data: null, error: null },
  // the system page's data
  schedules: { items: null, error: null }
};
function freshRuns() {
  return { items: null, next: null, cursor: null, back: [], error: null, workflows: /* @__PURE__ */ new Set() };
}
function parseRoute() {
  const hash = location.hash.replace(/^#\/?/, "");
  const [path, query] = hash.split("?");
  const params = new URLSearchParams(query || "");
  const match = /^run\/([^/]+)$/.exec(path);
  if (match)
    return { page: "run", id: decodeURIComponent(match[1]) };
  if (path === "system")
    return { page: "system" };
  if (path === "schedules")
    return { page: "schedules" };
  return {
    page: "runs",
    status: params.get("status") || "",
    workflow: params.get("workflow") || "",
    since: params.get("since") || ""
  };
}
let pending = false;
function update() {
  if (pending)
    return;
  pending = true;
  queueMicrotask(() => {
    pending = false;
    render(/* @__PURE__ */ h(App, null), document.getElementById("app"));
  });
}
async function loadRuns() {
  const route = state.route;
  const runs = state.runs;
  const query = new URLSearchParams({ limit: "50" });
  if (route.status)
    query.set("status", route.status);
  if (route.workflow)
    query.set("workflow", route.workflow);
  if (SINCE_SECONDS[route.since])
    query.set("created_after", String(Date.now() / 1e3 - SINCE_SECONDS[route.since]));
  if (runs.cursor)
    query.set("cursor", runs.cursor);
  try {
    const page = await api(`api/runs?${query}`);
    if (state.runs !== runs)
      return;
    runs.items = page.runs;
    runs.next = page.next_cursor;
    runs.error = null;
    for (const run of page.runs)
      runs.workflows.add(shortWorkflow(run.workflow_id));
  } catch (error) {
    if (state.runs === runs)
      runs.error = error.message;
  }
}
function older() {
  const runs = state.runs;
  if (!runs.next)
    return;
  runs.back.push(runs.cursor);
  runs.cursor = runs.next;
  refresh();
}
function newer() {
  const runs = state.runs;
  if (!runs.back.length)
    return;
  runs.cursor = runs.back.pop();
  refresh();
}
async function loadSystem() {
  const system = state.system;
  try {
    const data = await api(`api/system?minutes=${SYSTEM_MINUTES}`);
    if (state.system !== system)
      return;
    system.data = data;
    system.error = null;
  } catch (error) {
    if (state.system === system)
      system.error = error.message;
  }
}
function openView(id) {
  state.view = { id, detail: null, events: [], error: null, cancelling: false, stream: null };
  followStream(state.view, "default");
}
async function loadRun() {
  const view = state.view;
  const base = `api/runs/${encodeURIComponent(view.id)}`;
  if (view.detail && TERMINAL.has(view.detail.run.status) && view.final)
    return;
  try {
    const after = view.events.length ? view.events[view.events.length - 1].seq : -1;
    const [detail, events] = await Promise.all([api(`${base}/detail`), api(`${base}/events?after=${after}`)]);
    if (state.view !== view)
      return;
    view.detail = detail;
    const last = view.events.length ? view.events[view.events.length - 1].seq : -1;
    view.events.push(...events.events.filter((e) => e.seq > last));
    view.error = null;
    view.final = TERMINAL.has(detail.run.status) && view.sawTerminal;
    view.sawTerminal = TERMINAL.has(detail.run.status);
  } catch (error) {
    if (state.view === view)
      view.error = error.message;
  }
}
async function cancelRun() {
  const view = state.view;
  view.cancelling = true;
  update();
  try {
    await api(`api/runs/${encodeURIComponent(view.id)}/cancel`, { method: "POST", body: "{}" });
  } catch (error) {
    view.error = `cancel failed: ${error.message}`;
  }
  view.cancelling = false;
  view.final = false;
  await refresh();
}
function followStream(view, namespace) {
  if (view.stream && view.stream.source)
    view.stream.source.close();
  const stream = { namespace, chunks: [], closed: false, error: false, source: null };
  view.stream = stream;
  const query = new URLSearchParams({ namespace });
  const source = new EventSource(`api/runs/${encodeURIComponent(view.id)}/stream?${query}`);
  stream.source = source;
  source.onmessage = (event) => {
    let value;
    try {
      value = JSON.parse(event.data);
    } catch {
      value = event.data;
    }
    stream.chunks.push({ index: Number(event.lastEventId), value });
    stream.error = false;
    update();
  };
  source.addEventListener("rollback", (event) => {
    const { ranges } = JSON.parse(event.data);
    const taken = (index) => ranges.some(([start, stop]) => start <= index && index < stop);
    stream.chunks = stream.chunks.filter((chunk) => !taken(chunk.index));
    update();
  });
  source.addEventListener("end", () => {
    stream.closed = true;
    source.close();
    update();
  });
  source.onerror = () => {
    if (!stream.closed)
      stream.error = true;
    update();
  };
  update();
}
function closeView() {
  if (state.view && state.view.stream && state.view.stream.source)
    state.view.stream.source.close();
  state.view = null;
}
async function loadSchedules() {
  try {
    const body = await api("api/schedules");
    state.schedules = { items: body.schedules, error: null };
  } catch (error) {
    state.schedules = { items: state.schedules.items, error: error.message };
  }
}
async function toggleSchedule(schedule) {
  const action = schedule.paused ? "resume" : "pause";
  try {
    await api(`api/schedules/${encodeURIComponent(schedule.name)}/${action}`, { method: "POST" });
  } catch (error) {
    state.schedules.error = error.message;
  }
  await loadSchedules();
  update();
}
async function refresh() {
  const route = state.route;
  if (route.page === "runs")
    await loadRuns();
  else if (route.page === "system")
    await loadSystem();
  else if (route.page === "schedules")
    await loadSchedules();
  else
    await loadRun();
  if (state.route !== route)
    return;
  const failed = route.page === "runs" ? state.runs.error : route.page === "system" ? state.system.error : route.page === "schedules" ? state.schedules.error : state.view && state.view.error;
  state.offline = failed || null;
  state.now = Date.now() / 1e3;
  if (!failed)
    state.updated = state.now;
  update();
}
function navigate() {
  const route = parseRoute();
  state.route = route;
  closeView();
  if (route.page === "run") {
    openView(route.id);
    document.title = "wdk \xB7 run";
  } else if (route.page === "system") {
    state.system = { data: state.system.data, error: null };
    document.title = "wdk \xB7 system";
  } else if (route.page === "schedules") {
    document.title = "wdk \xB7 schedules";
  } else {
    const known = state.runs.workflows;
    state.runs = freshRuns();
    state.runs.workflows = known;
    document.title = "wdk \xB7 runs";
  }
  window.scrollTo(0, 0);
  refresh();
}
function App() {
  const route = state.route;
  const view = state.view;
  if (view && view.detail) {
    const run = view.detail.run;
    document.title = `wdk \xB7 ${shortWorkflow(run.workflow_id)} \xB7 ${run.status}`;
  }
  return /* @__PURE__ */ h(Fragment, null, /* @__PURE__ */ h("header", { class: "topbar", key: "top" }, /* @__PURE__ */ h("a", { class: "brand", href: "#/" }, "wdk"), /* @__PURE__ */ h("a", { class: route.page === "runs" ? "nav on" : "nav", href: "#/" }, "Runs"), /* @__PURE__ */ h("a", { class: route.page === "system" ? "nav on" : "nav", href: "#/system", id: "nav-system" }, "System"), /* @__PURE__ */ h("a", { class: route.page === "schedules" ? "nav on" : "nav", href: "#/schedules" }, "Schedules"), /* @__PURE__ */ h("span", { class: "spacer" }), /* @__PURE__ */ h("span", { class: state.offline ? "refresh off" : "refresh", title: state.offline || "" }, state.offline ? "server unreachable" : `auto-refresh \xB7 updated ${state.updated ? fmtTime(state.updated).slice(11) : "-"}`)), route.page === "runs" ? /* @__PURE__ */ h(RunsPage, { runs: state.runs, route, now: state.now, onOlder: older, onNewer: newer }) : route.page === "system" ? /* @__PURE__ */ h(SystemPage, { system: state.system }) : route.page === "schedules" ? /* @__PURE__ */ h(SchedulesPage, { schedules: state.schedules, onToggle: toggleSchedule }) : /* @__PURE__ */ h(
    RunPage,
    {
      view,
      now: state.now,
      onCancel: cancelRun,
      onNamespace: (ns) => followStream(view, ns)
    }
  ));
}
window.addEventListener("hashchange", navigate);
navigate();
setInterval(() => {
  if (!document.hidden)
    refresh();
}, REFRESH_MS);
})();
