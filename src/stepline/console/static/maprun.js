// A Map Run, as AWS's console shows one: its status, item and child execution counts (updated live while it
// runs), the settings it runs with, and its child executions (filtered by status), each linking to its own page.

import { aws } from "./api.js";
import { badge, clear, date, duration, h, href } from "./ui.js";

const REFRESH_MS = 1000;
const COUNTS = ["pending", "running", "succeeded", "failed", "timedOut", "aborted", "total", "resultsWritten"];
const COUNT_WORDS = { pending: "Pending", running: "Running", succeeded: "Succeeded", failed: "Failed",
  timedOut: "Timed out", aborted: "Aborted", total: "Total", resultsWritten: "Results written" };
const STATUSES = ["", "RUNNING", "SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED"];
const PAGE = 100;

export async function renderMapRun(main, arn) {
  let run = await aws("DescribeMapRun", { mapRunArn: arn });
  const [machineAndLabel] = arn.split(":mapRun:")[1].split(":");
  document.title = `Map Run ${machineAndLabel} · stepline`;
  const statusBox = h("span", { id: "map-run-status" });
  const facts = h("dl", { class: "facts inline", id: "map-run-facts" });
  const counts = h("tbody");
  const filter = h("select", { id: "child-status-filter", "aria-label": "Filter child executions by status" },
    STATUSES.map((s) => h("option", { value: s }, s ? s.replace("_", " ").toLowerCase() : "all statuses")));
  const rows = h("tbody");
  const more = h("div");
  let timer = null;
  let token = null;

  clear(main,
    h("nav", { class: "crumbs", "aria-label": "Breadcrumb" }, h("a", { href: "/" }, "State machines"), " / ",
      h("a", { href: href("/executions", run.executionArn), id: "parent-execution" }, run.executionArn.split(":").pop()),
      " / Map Run"),
    h("div", { class: "page-head" },
      h("div", {}, h("h1", {}, `Map Run ${machineAndLabel.split("/").pop()} `, statusBox),
        h("p", { class: "muted mono small" }, arn))),
    facts,
    h("section", { class: "panel", "aria-label": "Counts" }, h("h2", {}, "Items and child executions"),
      h("table", { class: "table compact", id: "map-run-counts" },
        h("thead", {}, h("tr", {}, h("th", {}, ""), h("th", {}, "Items"), h("th", {}, "Child executions"))), counts)),
    h("section", { class: "panel", "aria-label": "Child executions" },
      h("div", { class: "panel-head" }, h("h2", {}, "Child executions"), filter),
      h("table", { class: "table", id: "child-executions" },
        h("thead", {}, h("tr", {}, h("th", {}, "Name"), h("th", {}, "Status"), h("th", {}, "Started"), h("th", {}, "Ended"))),
        rows), more));

  function show() {
    clear(statusBox, badge(run.status));
    clear(facts,
      h("dt", {}, "Started"), h("dd", {}, date(run.startDate)),
      h("dt", {}, "Ended"), h("dd", {}, date(run.stopDate)),
      h("dt", {}, "Duration"), h("dd", {}, run.stopDate ? duration(run.stopDate - run.startDate) : "running"),
      h("dt", {}, "Max concurrency"), h("dd", { id: "max-concurrency" }, run.maxConcurrency ? String(run.maxConcurrency) : "unlimited"),
      h("dt", {}, "Tolerated failures"), h("dd", { id: "tolerated-failures" },
        `${run.toleratedFailureCount} items or ${run.toleratedFailurePercentage}%`),
      run.redriveCount ? [h("dt", {}, "Redrives"), h("dd", {}, String(run.redriveCount))] : null);
    clear(counts, COUNTS.map((key) => h("tr", { "data-count": key }, h("th", {}, COUNT_WORDS[key]),
      h("td", { class: "items" }, String(run.itemCounts[key] ?? 0)),
      h("td", { class: "executions" }, String(run.executionCounts[key] ?? 0)))));
  }

  async function children(append) {
    const params = { mapRunArn: arn, maxResults: PAGE, ...(filter.value ? { statusFilter: filter.value } : {}),
      ...(append && token ? { nextToken: token } : {}) };
    const page = await aws("ListExecutions", params);
    token = page.nextToken || null;
    const listed = page.executions.map((e) => h("tr", { "data-status": e.status },
      h("td", {}, h("a", { href: href("/executions", e.executionArn) }, e.name)), h("td", {}, badge(e.status)),
      h("td", {}, date(e.startDate)), h("td", {}, date(e.stopDate))));
    if (append) rows.append(...listed);
    else clear(rows, listed.length ? listed : h("tr", {}, h("td", { colspan: 4, class: "muted" }, "No child executions")));
    clear(more, token ? h("button", { type: "button", class: "ghost", id: "more-children", onclick: () => children(true) }, "More") : null);
  }

  async function refresh() {
    timer = null;
    run = await aws("DescribeMapRun", { mapRunArn: arn });
    show();
    if (!token) await children(false);  // the first page follows the run; a longer list stays as read
    if (run.status === "RUNNING") timer = setTimeout(refresh, REFRESH_MS);
  }

  filter.addEventListener("change", () => { token = null; children(false); });
  show();
  await children(false);
  if (run.status === "RUNNING") timer = setTimeout(refresh, REFRESH_MS);
  return () => { if (timer) clearTimeout(timer); };
}
