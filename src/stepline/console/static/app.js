// The console's router: one page shell; the address says which page to draw.

import { renderHome, renderMachine } from "./machines.js";
import { renderExecution } from "./execution.js";
import { renderMapRun } from "./maprun.js";
import { renderDesign } from "./design.js";
import { signedInHeaders } from "./api.js";
import { arnFrom, clear, h } from "./ui.js";

const main = document.getElementById("main");
let leave = null; // the current page's clean-up (closes event streams)

async function route() {
  if (leave) leave();
  leave = null;
  const path = location.pathname;
  try {
    if (path.startsWith("/state-machines/")) leave = await renderMachine(main, arnFrom("/state-machines"));
    else if (path.startsWith("/executions/")) leave = await renderExecution(main, arnFrom("/executions"));
    else if (path.startsWith("/map-runs/")) leave = await renderMapRun(main, arnFrom("/map-runs"));
    else if (path === "/design") leave = await renderDesign(main, null);
    else if (path.startsWith("/design/")) leave = await renderDesign(main, arnFrom("/design"));
    else leave = await renderHome(main);
  } catch (error) {
    clear(main, h("h1", {}, "Something went wrong"), h("p", { class: "error", role: "alert" }, error.message),
      h("p", {}, h("a", { href: "/" }, "Back to the state machines")));
  }
}

// Links inside the console navigate without reloading.
document.addEventListener("click", (event) => {
  const link = event.target.closest("a[href]");
  if (!link || link.target || event.ctrlKey || event.metaKey || event.shiftKey || event.button !== 0) return;
  const url = new URL(link.href);
  if (url.origin !== location.origin || url.pathname.startsWith("/console/")) return;
  if (url.hash && url.pathname === location.pathname) return;
  event.preventDefault();
  navigate(url.pathname + url.search);
});

export function navigate(address) {
  history.pushState(null, "", address);
  route();
  main.focus({ preventScroll: true });
}
window.addEventListener("popstate", route);

document.getElementById("theme-toggle").addEventListener("click", () => {
  const next = document.documentElement.dataset.theme === "dark" ? "light" : "dark";
  document.documentElement.dataset.theme = next;
  localStorage.setItem("stepline-theme", next);
});

document.getElementById("sign-out")?.addEventListener("click", async () => {
  await fetch("/console/logout", { method: "POST", headers: signedInHeaders() });
  location.assign("/console/login");
});

route();
