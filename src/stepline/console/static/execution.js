// An execution: its graph coloured by state status and updated live (server-sent events), the selected
// state's details, the event history, a timeline, and the actions: stop, redrive, fire a timer now.

import { aws, consoleGet, consolePost } from "./api.js";
import { GraphView } from "./graph.js";
import { History, details } from "./history.js";
import { startDialog } from "./machines.js";
import { badge, clear, code, date, duration, h, href, pretty, toast } from "./ui.js";

const EVENTS_PER_PAGE = 200;
const TIMELINE_BARS = 400;

export async function renderExecution(main, arn) {
  const started = performance.now();
  // through the console's route: DescribeExecution and DescribeStateMachineForExecution refuse Express executions
  const { execution, machine } = await consoleGet("execution", { executionArn: arn });
  const express = arn.split(":")[5] === "express"; // AWS has no action to stop or redrive one
  document.title = `${execution.name} · stepline`;
  const history = new History();
  const state = { execution, timers: [], selected: null, iteration: "", eventPage: 0, eventType: "", tab: "events",
    mapRuns: (await aws("ListMapRuns", { executionArn: arn }).catch(() => ({ mapRuns: [] }))).mapRuns };
  const graph = new GraphView({ label: `Graph of execution ${execution.name}`, onSelect: (id, name) => select(name) });

  const statusBox = h("span", { id: "execution-status" });
  const actions = h("div", { class: "actions", role: "toolbar", "aria-label": "Execution actions" });
  const facts = h("dl", { class: "facts inline" });
  const problem = h("div");
  const panel = h("section", { class: "panel side state-panel", id: "state-panel", "aria-live": "polite", "aria-label": "Selected state" });
  const iterationBar = h("div", { class: "iteration-bar", hidden: true });
  const tabs = h("div", { class: "tabs", role: "tablist", "aria-label": "Execution details" });
  const tabBody = h("div", { class: "tab-body", role: "tabpanel" });

  clear(main,
    h("nav", { class: "crumbs", "aria-label": "Breadcrumb" }, h("a", { href: "/" }, "State machines"), " / ",
      h("a", { href: href("/state-machines", execution.stateMachineArn) }, machine.name), " / ", execution.name),
    h("div", { class: "page-head" },
      h("div", {}, h("h1", {}, execution.name, " ", statusBox), h("p", { class: "muted mono small" }, arn)),
      actions),
    facts, problem,
    h("div", { class: "columns" },
      h("section", { class: "panel grow", "aria-label": "Graph" }, iterationBar, h("div", { class: "graph-box tall" }, graph.element)),
      panel),
    h("section", { class: "panel" }, tabs, tabBody));

  function header() {
    const e = state.execution;
    const parent = startedBy(e.input);
    clear(statusBox, badge(history.events.length && history.status !== "RUNNING" ? history.status : e.status));
    const stop = history.end ?? e.stopDate;
    clear(facts,
      h("dt", {}, "Started"), h("dd", {}, date(e.startDate)),
      h("dt", {}, "Ended"), h("dd", {}, date(stop)),
      h("dt", {}, "Duration"), h("dd", {}, stop ? duration(stop - e.startDate) : "running"),
      h("dt", {}, "Events"), h("dd", { id: "event-count" }, String(history.events.length)),
      e.redriveCount ? [h("dt", {}, "Redrives"), h("dd", {}, String(e.redriveCount))] : null,
      parent ? [h("dt", {}, "Started by"), h("dd", {}, h("a", { id: "started-by", href: href("/executions", parent) }, parent.split(":").pop()))] : null,
      e.mapRunArn ? [h("dt", {}, "Map Run"), h("dd", {}, h("a", { id: "map-run", href: href("/map-runs", e.mapRunArn) }, mapRunName(e.mapRunArn)))] : null,
      state.mapRuns.length ? [h("dt", {}, "Map Runs"), h("dd", { id: "map-runs" }, state.mapRuns.map((r, i) =>
        [i ? ", " : "", h("a", { href: href("/map-runs", r.mapRunArn) }, mapRunName(r.mapRunArn))]))] : null);
    const running = (history.events.length ? history.status : e.status) === "RUNNING";
    clear(actions,
      running && !express ? h("button", { type: "button", class: "danger", id: "stop", onclick: stopExecution }, "Stop") : null,
      ["FAILED", "TIMED_OUT", "ABORTED"].includes(history.status) && !running && !express ?
        h("button", { type: "button", id: "redrive", onclick: redrive }, "Redrive") : null,
      running && state.timers.length ? h("button", { type: "button", id: "fire-timer", onclick: fireTimer,
        title: state.timers.map((t) => `${t.kind === "retry" ? "Retry interval of" : "Wait state"} ${t.state}`).join(", ") },
        `Fire timer now (${state.timers.map((t) => t.state).join(", ")})`) : null,
      h("button", { type: "button", class: "ghost", onclick: () => startDialog(e.stateMachineVersionArn || e.stateMachineArn, pretty(e.input)) }, "New execution"));
    const error = history.error ?? e.error;
    const cause = history.cause ?? e.cause;
    clear(problem, error || cause ? h("div", { class: "callout error", role: "alert" },
      h("strong", {}, error || "Error"), cause ? h("pre", { class: "code" }, pretty(cause)) : null) : null);
  }

  async function stopExecution() {
    try {
      await aws("StopExecution", { executionArn: arn, error: "Stopped", cause: "Stopped from the console" });
      toast("Execution stopped");
      state.execution = await aws("DescribeExecution", { executionArn: arn });
      ensureStream();
    } catch (error) { toast(error.message, "error"); }
  }

  async function redrive() {
    try {
      await aws("RedriveExecution", { executionArn: arn });
      toast("Execution redriven");
      state.execution = await aws("DescribeExecution", { executionArn: arn });
      history.status = "RUNNING";
      header();
      ensureStream();
    } catch (error) { toast(error.message, "error"); }
  }

  async function fireTimer() {
    try {
      const { fired } = await consolePost("fire-timer", { executionArn: arn });
      toast(`Fired: ${fired.map((t) => t.state).join(", ")}`);
    } catch (error) { toast(error.message, "error"); }
  }

  // ------------------------------------------------------------------ the selected state

  function select(name) {
    state.selected = name;
    showPanel();
  }

  function showPanel() {
    const name = state.selected;
    if (!name) {
      clear(panel, h("h2", {}, "State details"), h("p", { class: "muted" }, "Select a state on the graph (click, or Tab and Enter)."),
        h("h3", {}, "Execution input"), code(state.execution.input, "Execution input"),
        history.output !== undefined || state.execution.output !== undefined ?
          [h("h3", {}, "Execution output"), code(history.output ?? state.execution.output, "Execution output")] : null);
      return;
    }
    const visits = history.visitsOf(name, state.iteration);
    const visit = visits[visits.length - 1];
    const header = h("div", { class: "panel-head" }, h("h2", {}, name), visit ? badge(visit.status) : badge("not-run"));
    if (!visit) {
      clear(panel, header, h("p", { class: "muted" }, "This state has not run."));
      return;
    }
    const failures = visits.reduce((n, v) => n + Math.max(0, v.attempts - 1), 0);
    const body = [
      h("dl", { class: "facts" },
        h("dt", {}, "Type"), h("dd", {}, visit.type),
        h("dt", {}, "Entered"), h("dd", {}, date(visit.start)),
        h("dt", {}, "Exited"), h("dd", {}, date(visit.end)),
        h("dt", {}, "Duration"), h("dd", {}, visit.end ? duration(visit.end - visit.start) : "in progress"),
        h("dt", {}, "Runs"), h("dd", {}, `${visits.length}${state.iteration ? " in this iteration" : ""}`),
        h("dt", {}, "Retries"), h("dd", { id: "state-retries" }, String(failures))),
    ];
    if (visit.error || visit.cause) {
      body.push(h("div", { class: "callout error" }, h("strong", {}, visit.error || "Error"),
        visit.cause ? h("pre", { class: "code" }, pretty(visit.cause)) : null));
    }
    body.push(h("h3", {}, "Input"), code(visit.input, `Input of ${name}`));
    if (visit.parameters !== undefined) body.push(h("h3", {}, "Parameters"), code(visit.parameters, `Parameters of ${name}`));
    if (visit.output !== undefined) body.push(h("h3", {}, "Output"), code(visit.output, `Output of ${name}`));
    if (visit.type === "Map") body.push(iterations(visit));
    clear(panel, header, body);
  }

  function iterations(visit) {
    const list = [...visit.iterations.values()].sort((a, b) => a.index - b.index);
    const shown = list.slice(0, 300);
    return h("div", {}, h("h3", {}, `Iterations (${list.length})`),
      h("ul", { class: "iterations" }, shown.map((it) => h("li", {},
        h("button", { type: "button", class: "ghost small", onclick: () => focusIteration(visit, it.index) },
          `#${it.index}`), " ", badge(it.status), " ", h("span", { class: "muted" }, it.end ? duration(it.end - it.start) : "")))),
      list.length > shown.length ? h("p", { class: "muted" }, `and ${list.length - shown.length} more`) : null);
  }

  function focusIteration(visit, index) {
    state.iteration = `${visit.iteration}${visit.index}:${index}/`;
    clear(iterationBar, h("span", {}, `Showing iteration #${index} of ${visit.name}`), " ",
      h("button", { type: "button", class: "ghost small", onclick: () => { state.iteration = ""; iterationBar.hidden = true; refresh(); } }, "Show all iterations"));
    iterationBar.hidden = false;
    refresh();
  }

  // ------------------------------------------------------------------ tabs: events, timeline

  const TABS = { events: "Events", timeline: "Timeline" };
  for (const [key, label] of Object.entries(TABS)) {
    tabs.append(h("button", { type: "button", role: "tab", id: `tab-${key}`, "aria-selected": String(key === state.tab),
      onclick: () => { state.tab = key; for (const b of tabs.children) b.setAttribute("aria-selected", String(b.id === `tab-${key}`)); showTab(); } }, label));
  }

  function showTab() {
    if (state.tab === "events") showEvents();
    else showTimeline();
  }

  function showEvents() {
    const types = [...history.types].sort();
    const filter = h("select", { id: "event-type", "aria-label": "Filter events by type",
      onchange: (event) => { state.eventType = event.target.value; state.eventPage = 0; showEvents(); } },
      h("option", { value: "" }, "All event types"), types.map((t) => h("option", { value: t, selected: t === state.eventType }, t)));
    const events = state.eventType ? history.events.filter((e) => e.type === state.eventType) : history.events;
    const pages = Math.max(1, Math.ceil(events.length / EVENTS_PER_PAGE));
    state.eventPage = Math.min(state.eventPage, pages - 1);
    const first = state.eventPage * EVENTS_PER_PAGE;
    const start = history.start ?? state.execution.startDate;
    const rows = events.slice(first, first + EVENTS_PER_PAGE).map((event) => {
      const toggle = h("button", { type: "button", class: "ghost small", "aria-expanded": "false", "aria-label": `Details of event ${event.id}` }, "▸");
      const row = h("tr", {}, h("td", {}, toggle), h("td", {}, String(event.id)), h("td", {}, event.type),
        h("td", {}, history.nameOfEvent(event.id)), h("td", {}, duration(event.timestamp - start)), h("td", {}, date(event.timestamp)));
      toggle.addEventListener("click", () => {
        const open = toggle.getAttribute("aria-expanded") === "true";
        toggle.setAttribute("aria-expanded", String(!open));
        toggle.textContent = open ? "▸" : "▾";
        if (open) row.nextSibling?.classList.contains("event-details") && row.nextSibling.remove();
        else row.after(h("tr", { class: "event-details" }, h("td", { colspan: 6 }, code(JSON.stringify(expand(details(event)), null, 2), `Event ${event.id}`))));
      });
      return row;
    });
    const pager = h("div", { class: "pager" },
      h("button", { type: "button", class: "ghost", disabled: state.eventPage === 0, onclick: () => { state.eventPage -= 1; showEvents(); } }, "‹ Previous"),
      h("span", { class: "muted" }, `${events.length} events · page ${state.eventPage + 1} of ${pages}`),
      h("button", { type: "button", class: "ghost", disabled: state.eventPage >= pages - 1, onclick: () => { state.eventPage += 1; showEvents(); } }, "Next ›"));
    clear(tabBody, h("div", { class: "filters" }, filter),
      h("table", { class: "table compact", id: "events" },
        h("thead", {}, h("tr", {}, ...["", "ID", "Type", "State", "Elapsed", "Timestamp"].map((c) => h("th", { scope: "col" }, c)))),
        h("tbody", {}, rows)), pager);
  }

  function showTimeline() {
    const visits = history.visits.filter((v) => !state.iteration || v.iteration.startsWith(state.iteration));
    const t0 = history.start ?? state.execution.startDate;
    const now = Date.now() / 1000;
    const t1 = Math.max(history.end ?? Math.max(now, t0), ...visits.slice(0, TIMELINE_BARS).map((v) => v.end ?? now)) || t0 + 1;
    const span = Math.max(t1 - t0, 0.001);
    const bars = visits.slice(0, TIMELINE_BARS).map((v) => {
      const left = ((v.start - t0) / span) * 100;
      const width = Math.max(0.4, (((v.end ?? now) - v.start) / span) * 100);
      return h("div", { class: "timeline-row" },
        h("button", { type: "button", class: "ghost small timeline-name", onclick: () => { select(v.name); const id = graph.byName.get(v.name)?.[0]?.dataset.id; if (id) graph.select(id); } },
          v.name + (v.iteration ? ` [${v.iteration.split("/").filter(Boolean).map((p) => p.split(":")[1]).join(".")}]` : "")),
        h("div", { class: "timeline-track" }, h("div", { class: `timeline-bar status--${v.status}`,
          style: `left:${left}%;width:${Math.min(width, 100 - left)}%`,
          title: `${v.name}: ${v.status}, ${v.end ? duration(v.end - v.start) : "in progress"}` })),
        h("span", { class: "muted small" }, v.end ? duration(v.end - v.start) : "…"));
    });
    clear(tabBody, h("div", { class: "timeline", id: "timeline" },
      h("div", { class: "timeline-scale muted small" }, h("span", {}, "0"), h("span", {}, duration(span))), bars),
      visits.length > TIMELINE_BARS ? h("p", { class: "muted" }, `Showing the first ${TIMELINE_BARS} of ${visits.length} state runs.`) : null);
  }

  // ------------------------------------------------------------------ live updates

  let source = null;
  let pending = false;
  function refresh() {
    if (pending) return;
    pending = true;
    requestAnimationFrame(() => {
      pending = false;
      graph.setStatuses(history.statuses(state.iteration));
      header();
      showPanel();
      if (state.tab === "events" && state.eventPage === Math.max(0, Math.ceil(history.events.length / EVENTS_PER_PAGE) - 1)) showEvents();
      else if (state.tab === "timeline") showTimeline();
      main.dataset.events = String(history.events.length);
      main.dataset.status = history.status;
    });
  }

  async function mapRunsStarted() {
    state.mapRuns = (await aws("ListMapRuns", { executionArn: arn })).mapRuns;
    refresh();
  }

  function ensureStream() {
    if (source && source.readyState !== EventSource.CLOSED) return;
    const after = history.events.length ? history.events[history.events.length - 1].id : 0;
    source = new EventSource(`/console/api/events?executionArn=${encodeURIComponent(arn)}&after=${after}`);
    source.addEventListener("events", (message) => {
      const added = JSON.parse(message.data);
      history.add(added);
      if ([].concat(added).some((event) => event.type === "MapRunStarted")) mapRunsStarted();
      refresh();
    });
    source.addEventListener("status", (message) => {
      const update = JSON.parse(message.data);
      state.timers = update.timers;
      if (update.status !== "RUNNING") history.status = update.status;
      refresh();
    });
    source.addEventListener("end", async () => {
      source.close();
      state.timers = [];
      main.dataset.loadedMs = main.dataset.loadedMs || String(Math.round(performance.now() - started));
      state.execution = (await consoleGet("execution", { executionArn: arn })).execution;
      refresh();
    });
    source.addEventListener("error", () => { if (source.readyState === EventSource.CLOSED) toast("Lost the event stream", "error"); });
  }

  await graph.load(machine.definition);
  header();
  showPanel();
  showTab();
  ensureStream();
  return () => { if (source) source.close(); };
}

// An event's details with its JSON strings (input, output, parameters) opened up.
function expand(info) {
  const out = {};
  for (const [key, value] of Object.entries(info)) {
    if (typeof value === "string" && /^[[{]/.test(value)) {
      try { out[key] = JSON.parse(value); continue; } catch { /* keep the text */ }
    }
    out[key] = value;
  }
  return out;
}

// A nested execution's parent, as AWS links them: the input field AWS_STEP_FUNCTIONS_STARTED_BY_EXECUTION_ID.
function mapRunName(arn) {
  return arn.split(":mapRun:")[1].split(":")[0].split("/").pop();
}

function startedBy(input) {
  try {
    const value = JSON.parse(input ?? "null")?.AWS_STEP_FUNCTIONS_STARTED_BY_EXECUTION_ID;
    return typeof value === "string" && value.startsWith("arn:") && value.includes(":execution:") ? value : null;
  } catch {
    return null;
  }
}
