// The state machines list and one state machine's page: its graph, versions, aliases and executions.

import { aws, consoleGet, consolePost } from "./api.js";
import { navigate } from "./app.js";
import { GraphView } from "./graph.js";
import { badge, clear, date, debounce, dialog, h, href, toast } from "./ui.js";

// The figures of GET /metrics at a glance: counted by this server since it started; running ones in the store.
const FIGURES = [
  ["started", "Started"], ["running", "Running"], ["SUCCEEDED", "Succeeded"], ["FAILED", "Failed"],
  ["TIMED_OUT", "Timed out"], ["ABORTED", "Aborted"], ["transitions", "State transitions"],
  ["taskSecondsP50", "Task p50"], ["taskSecondsP95", "Task p95"],
];

function seconds(value) {
  if (value === null || value === undefined) return "–";
  return value < 1 ? `${Math.round(value * 1000)} ms` : `${value.toFixed(value < 10 ? 2 : 0)} s`;
}

async function showFigures(list) {
  const figures = await consoleGet("metrics");
  const value = (key) => key.startsWith("task") ? seconds(figures[key])
    : String(key in figures ? figures[key] : figures.finished[key] || 0);
  clear(list, FIGURES.flatMap(([key, label]) => [h("dt", {}, label), h("dd", { "data-figure": key }, value(key))]));
}

export async function renderHome(main) {
  document.title = "State machines · stepline";
  const body = h("tbody");
  const more = h("button", { type: "button", class: "ghost", hidden: true }, "Load more");
  const figures = h("dl", { class: "facts inline", id: "figures" });
  clear(main,
    h("div", { class: "page-head" }, h("h1", {}, "State machines"),
      h("a", { class: "button primary", href: "/design" }, "Create state machine")),
    h("section", { class: "panel", "aria-labelledby": "figures-title" },
      h("h2", { id: "figures-title", class: "visually-hidden" }, "Executions at a glance"), figures,
      h("p", { class: "hint" }, "Executions counted by this server since it started; running ones in the whole store. ",
        h("a", { href: "/metrics", target: "_blank", rel: "noopener" }, "Prometheus metrics"))),
    h("table", { class: "table" }, h("caption", { class: "visually-hidden" }, "State machines"),
      h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "Name"), h("th", { scope: "col" }, "Type"),
        h("th", { scope: "col" }, "Created"))), body),
    more);
  let token;
  async function load() {
    const page = await aws("ListStateMachines", { maxResults: 100, ...(token ? { nextToken: token } : {}) });
    for (const machine of page.stateMachines) {
      body.append(h("tr", {}, h("td", {}, h("a", { href: href("/state-machines", machine.stateMachineArn) }, machine.name)),
        h("td", {}, machine.type), h("td", {}, date(machine.creationDate))));
    }
    if (!body.children.length) body.append(h("tr", {}, h("td", { colspan: 3, class: "muted" }, "No state machines yet.")));
    token = page.nextToken;
    more.hidden = !token;
  }
  more.addEventListener("click", load);
  showFigures(figures).catch((error) => clear(figures, h("dd", { class: "muted" }, `Figures unavailable: ${error.message}`)));
  await load();
}

export async function startDialog(stateMachineArn, input = "{}") {
  const name = h("input", { name: "name", id: "start-name", placeholder: "(generated)", autocomplete: "off" });
  const text = h("textarea", { name: "input", id: "start-input", rows: 12, spellcheck: false, class: "mono", value: input });
  const problem = h("p", { class: "hint", "aria-live": "polite" });
  text.addEventListener("input", () => {
    try { JSON.parse(text.value); problem.textContent = "Valid JSON"; problem.className = "hint ok"; } catch (error) {
      problem.textContent = error.message; problem.className = "hint error";
    }
  });
  return dialog("Start execution", [
    h("label", { for: "start-name" }, "Name"), name,
    h("label", { for: "start-input" }, "Input (JSON)"), text, problem,
  ], {
    submitLabel: "Start",
    submit: async () => {
      JSON.parse(text.value);
      const started = await aws("StartExecution", { stateMachineArn, input: text.value, ...(name.value ? { name: name.value } : {}) });
      navigate(href("/executions", started.executionArn));
      return started;
    },
  });
}

const PAGE = 50;

export async function renderMachine(main, arn) {
  const machine = await aws("DescribeStateMachine", { stateMachineArn: arn });
  document.title = `${machine.name} · stepline`;
  const graph = new GraphView({ label: `Graph of ${machine.name}` });
  const versions = h("ul", { class: "plain" });
  const aliases = h("ul", { class: "plain" });
  const schedules = h("ul", { class: "plain", id: "schedules" });
  const rows = h("tbody");
  const status = h("select", { id: "status-filter", "aria-label": "Filter by status" },
    ...["", "RUNNING", "SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED", "PENDING_REDRIVE"].map((s) =>
      h("option", { value: s }, s ? s.replace("_", " ").toLowerCase() : "All statuses")));
  const search = h("input", { id: "name-search", type: "search", placeholder: "Search by name", "aria-label": "Search executions by name" });
  const prev = h("button", { type: "button", class: "ghost", disabled: true }, "‹ Previous");
  const next = h("button", { type: "button", class: "ghost", disabled: true }, "Next ›");
  const where = h("span", { class: "muted", "aria-live": "polite" });
  clear(main,
    h("nav", { class: "crumbs", "aria-label": "Breadcrumb" }, h("a", { href: "/" }, "State machines"), " / ", machine.name),
    h("div", { class: "page-head" },
      h("div", {}, h("h1", {}, machine.name), h("p", { class: "muted mono small" }, machine.stateMachineArn)),
      h("div", { class: "actions" },
        h("a", { class: "button", href: href("/design", arn) }, "Edit in design mode"),
        h("button", { type: "button", class: "primary", onclick: () => startDialog(arn) }, "Start execution"))),
    h("div", { class: "columns" },
      h("section", { class: "panel grow", "aria-labelledby": "executions-title" },
        h("h2", { id: "executions-title" }, "Executions"),
        h("div", { class: "filters" }, status, search),
        h("table", { class: "table", id: "executions" },
          h("thead", {}, h("tr", {}, ...["Name", "Status", "Started", "Ended"].map((c) => h("th", { scope: "col" }, c)))), rows),
        h("div", { class: "pager" }, prev, where, next)),
      h("section", { class: "panel side" },
        h("h2", {}, "Definition"), h("div", { class: "graph-box" }, graph.element),
        h("dl", { class: "facts" }, h("dt", {}, "Type"), h("dd", {}, machine.type),
          h("dt", {}, "Created"), h("dd", {}, date(machine.creationDate)),
          h("dt", {}, "Revision"), h("dd", { class: "mono small" }, machine.revisionId || "–")),
        h("h2", {}, "Versions"), versions, h("h2", {}, "Aliases"), aliases,
        h("h2", {}, "Schedules"), schedules)));
  graph.load(machine.definition).catch((error) => toast(error.message, "error"));
  aws("ListStateMachineVersions", { stateMachineArn: arn }).then((page) => {
    clear(versions, page.stateMachineVersions.length ? page.stateMachineVersions.map((v) =>
      h("li", {}, h("a", { href: href("/state-machines", v.stateMachineVersionArn) }, `Version ${v.stateMachineVersionArn.split(":").pop()}`),
        " ", h("span", { class: "muted" }, date(v.creationDate)))) : h("li", { class: "muted" }, "None published"));
  }).catch(() => clear(versions, h("li", { class: "muted" }, "–")));
  aws("ListStateMachineAliases", { stateMachineArn: arn }).then((page) => {
    clear(aliases, page.stateMachineAliases.length ? page.stateMachineAliases.map((a) =>
      h("li", {}, a.stateMachineAliasArn.split(":").pop(), " ", h("span", { class: "muted" }, date(a.creationDate)))) :
      h("li", { class: "muted" }, "None"));
  }).catch(() => clear(aliases, h("li", { class: "muted" }, "–")));

  async function loadSchedules() {
    const { schedules: list } = await consoleGet("schedules", { stateMachineArn: arn });
    clear(schedules, list.length ? list.map((s) => h("li", { "data-schedule": s.name },
      h("span", {}, s.name), " ", h("span", { class: "mono small" }, s.expression),
      s.timezone !== "UTC" ? h("span", { class: "muted small" }, ` ${s.timezone}`) : "", " ",
      h("span", { class: "muted small" }, s.state === "ENABLED" ? `next ${date(s.nextDue)}` : "paused"), " ",
      h("button", { type: "button", class: "ghost small", onclick: () =>
        consolePost("schedule-state", { scheduleArn: s.scheduleArn, state: s.state === "ENABLED" ? "DISABLED" : "ENABLED" })
          .then(loadSchedules).catch((error) => toast(error.message, "error")) },
      s.state === "ENABLED" ? "Pause" : "Resume"))) : h("li", { class: "muted" }, "None"));
  }
  loadSchedules().catch(() => clear(schedules, h("li", { class: "muted" }, "–")));

  const tokens = [undefined]; // the token of each page shown so far
  let pageIndex = 0;
  async function load() {
    const token = tokens[pageIndex];
    const started = performance.now();
    const query = { stateMachineArn: arn, maxResults: PAGE, ...(status.value ? { statusFilter: status.value } : {}),
      ...(token ? { nextToken: token } : {}) };
    const page = search.value.trim()
      ? await consoleGet("executions", { ...query, name: search.value.trim() })
      : await aws("ListExecutions", query);
    clear(rows, page.executions.map((e) => h("tr", {},
      h("td", {}, h("a", { href: href("/executions", e.executionArn) }, e.name)), h("td", {}, badge(e.status)),
      h("td", {}, date(e.startDate)), h("td", {}, date(e.stopDate)))));
    if (!page.executions.length) rows.append(h("tr", {}, h("td", { colspan: 4, class: "muted" }, "No executions.")));
    tokens[pageIndex + 1] = page.nextToken;
    prev.disabled = pageIndex === 0;
    next.disabled = !page.nextToken;
    where.textContent = `Page ${pageIndex + 1}`;
    main.dataset.loadMs = String(Math.round(performance.now() - started));
  }
  const restart = () => { tokens.length = 1; pageIndex = 0; load().catch((error) => toast(error.message, "error")); };
  status.addEventListener("change", restart);
  search.addEventListener("input", debounce(restart, 300));
  prev.addEventListener("click", () => { pageIndex -= 1; load(); });
  next.addEventListener("click", () => { pageIndex += 1; load(); });
  await load();
  return null;
}
