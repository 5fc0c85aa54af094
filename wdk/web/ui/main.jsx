// The app: the route (from location.hash), the data of the page shown, a
// refresh every two seconds, and one render per change.
//
//   #/                          runs, newest first
//   #/?status=failed&workflow=shop.orders:checkout
//   #/?since=1h                 runs created in the last hour
//   #/system                    the system: counts, queue, workers, throughput
//   #/run/<id>                  one run
//   #/schedules                 the schedules (wdk.schedule)

const REFRESH_MS = 2000;

const state = {
  route: parseRoute(),
  now: Date.now() / 1000,
  updated: null, // when the last refresh answered
  offline: null, // why the last refresh failed
  runs: freshRuns(),
  view: null, // the run page's data
  system: { data: null, error: null }, // the system page's data
  schedules: { items: null, error: null },
};

function freshRuns() {
  return { items: null, next: null, cursor: null, back: [], error: null, workflows: new Set() };
}

function parseRoute() {
  const hash = location.hash.replace(/^#\/?/, "");
  const [path, query] = hash.split("?");
  const params = new URLSearchParams(query || "");
  const match = /^run\/([^/]+)$/.exec(path);
  if (match) return { page: "run", id: decodeURIComponent(match[1]) };
  if (path === "system") return { page: "system" };
  if (path === "schedules") return { page: "schedules" };
  return {
    page: "runs",
    status: params.get("status") || "",
    workflow: params.get("workflow") || "",
    since: params.get("since") || "",
  };
}

let pending = false;
function update() {
  if (pending) return;
  pending = true;
  queueMicrotask(() => {
    pending = false;
    render(<App />, document.getElementById("app"));
  });
}

// --- runs -------------------------------------------------------------------------------

async function loadRuns() {
  const route = state.route;
  const runs = state.runs;
  const query = new URLSearchParams({ limit: "50" });
  if (route.status) query.set("status", route.status);
  if (route.workflow) query.set("workflow", route.workflow);
  if (SINCE_SECONDS[route.since]) query.set("created_after", String(Date.now() / 1000 - SINCE_SECONDS[route.since]));
  if (runs.cursor) query.set("cursor", runs.cursor);
  try {
    const page = await api(`api/runs?${query}`);
    if (state.runs !== runs) return; // the filters changed meanwhile
    runs.items = page.runs;
    runs.next = page.next_cursor;
    runs.error = null;
    for (const run of page.runs) runs.workflows.add(shortWorkflow(run.workflow_id));
  } catch (error) {
    if (state.runs === runs) runs.error = error.message;
  }
}

function older() {
  const runs = state.runs;
  if (!runs.next) return;
  runs.back.push(runs.cursor);
  runs.cursor = runs.next;
  refresh();
}

function newer() {
  const runs = state.runs;
  if (!runs.back.length) return;
  runs.cursor = runs.back.pop();
  refresh();
}

// --- the system ------------------------------------------------------------------------

async function loadSystem() {
  const system = state.system;
  try {
    const data = await api(`api/system?minutes=${SYSTEM_MINUTES}`);
    if (state.system !== system) return;
    system.data = data;
    system.error = null;
  } catch (error) {
    if (state.system === system) system.error = error.message;
  }
}

// --- one run ----------------------------------------------------------------------------

function openView(id) {
  state.view = { id, detail: null, events: [], error: null, cancelling: false, stream: null };
  followStream(state.view, "default");
}

async function loadRun() {
  const view = state.view;
  const base = `api/runs/${encodeURIComponent(view.id)}`;
  if (view.detail && TERMINAL.has(view.detail.run.status) && view.final) return;
  try {
    const after = view.events.length ? view.events[view.events.length - 1].seq : -1;
    const [detail, events] = await Promise.all([api(`${base}/detail`), api(`${base}/events?after=${after}`)]);
    if (state.view !== view) return;
    view.detail = detail;
    const last = view.events.length ? view.events[view.events.length - 1].seq : -1;
    view.events.push(...events.events.filter((e) => e.seq > last));
    view.error = null;
    // One more read after the run ends catches events committed with its end.
    view.final = TERMINAL.has(detail.run.status) && view.sawTerminal;
    view.sawTerminal = TERMINAL.has(detail.run.status);
  } catch (error) {
    if (state.view === view) view.error = error.message;
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

// The stream over Server-Sent Events: the browser resumes by itself after a
// dropped connection (Last-Event-ID), and the server ends it when the stream closes.
function followStream(view, namespace) {
  if (view.stream && view.stream.source) view.stream.source.close();
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
  // A step attempt that failed or died after writing: erase what it wrote.
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
    if (!stream.closed) stream.error = true;
    update();
  };
  update();
}

function closeView() {
  if (state.view && state.view.stream && state.view.stream.source) state.view.stream.source.close();
  state.view = null;
}

// --- schedules --------------------------------------------------------------------------------

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

// --- refresh and routing ----------------------------------------------------------------------

async function refresh() {
  const route = state.route;
  if (route.page === "runs") await loadRuns();
  else if (route.page === "system") await loadSystem();
  else if (route.page === "schedules") await loadSchedules();
  else await loadRun();
  if (state.route !== route) return;
  const failed =
    route.page === "runs" ? state.runs.error
    : route.page === "system" ? state.system.error
    : route.page === "schedules" ? state.schedules.error
    : state.view && state.view.error;
  state.offline = failed || null;
  state.now = Date.now() / 1000;
  if (!failed) state.updated = state.now;
  update();
}

function navigate() {
  const route = parseRoute();
  state.route = route;
  closeView();
  if (route.page === "run") {
    openView(route.id);
    document.title = "wdk · run";
  } else if (route.page === "system") {
    state.system = { data: state.system.data, error: null };
    document.title = "wdk · system";
  } else if (route.page === "schedules") {
    document.title = "wdk · schedules";
  } else {
    const known = state.runs.workflows;
    state.runs = freshRuns();
    state.runs.workflows = known;
    document.title = "wdk · runs";
  }
  window.scrollTo(0, 0);
  refresh();
}

function App() {
  const route = state.route;
  const view = state.view;
  if (view && view.detail) {
    const run = view.detail.run;
    document.title = `wdk · ${shortWorkflow(run.workflow_id)} · ${run.status}`;
  }
  return (
    <>
      <header class="topbar" key="top">
        <a class="brand" href="#/">wdk</a>
        <a class={route.page === "runs" ? "nav on" : "nav"} href="#/">Runs</a>
        <a class={route.page === "system" ? "nav on" : "nav"} href="#/system" id="nav-system">System</a>
        <a class={route.page === "schedules" ? "nav on" : "nav"} href="#/schedules">Schedules</a>
        <span class="spacer" />
        <span class={state.offline ? "refresh off" : "refresh"} title={state.offline || ""}>
          {state.offline ? "server unreachable" : `auto-refresh · updated ${state.updated ? fmtTime(state.updated).slice(11) : "-"}`}
        </span>
      </header>
      {route.page === "runs" ? (
        <RunsPage runs={state.runs} route={route} now={state.now} onOlder={older} onNewer={newer} />
      ) : route.page === "system" ? (
        <SystemPage system={state.system} />
      ) : route.page === "schedules" ? (
        <SchedulesPage schedules={state.schedules} onToggle={toggleSchedule} />
      ) : (
        <RunPage
          view={view}
          now={state.now}
          onCancel={cancelRun}
          onNamespace={(ns) => followStream(view, ns)}
        />
      )}
    </>
  );
}

window.addEventListener("hashchange", navigate);
navigate();
setInterval(() => {
  if (!document.hidden) refresh();
}, REFRESH_MS);
