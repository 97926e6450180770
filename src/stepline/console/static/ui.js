// Small DOM helpers shared by the pages.

export function h(tag, attrs = {}, ...children) {
  const element = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith("on") && typeof value === "function") element.addEventListener(key.slice(2), value);
    else if (key === "class") element.className = value;
    else if (key === "dataset") Object.assign(element.dataset, value);
    else if (key === "style") element.style.cssText = value; // through the CSSOM: the CSP forbids style attributes
    else if (key === "text") element.textContent = value;
    else if (key === "value") element.value = value;
    else if (key in element && typeof value !== "string") element[key] = value;
    else element.setAttribute(key, value === true ? "" : value);
  }
  append(element, children);
  return element;
}

function append(element, children) {
  for (const child of children.flat(Infinity)) {
    if (child === undefined || child === null || child === false) continue;
    element.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

export function clear(element, ...children) {
  element.replaceChildren();
  append(element, children);
  return element;
}

// /state-machines/<arn>: ARNs keep their colons, everything else is escaped.
export function href(prefix, arn) {
  return `${prefix}/${encodeURIComponent(arn).replace(/%3A/gi, ":")}`;
}

export function arnFrom(prefix) {
  const rest = location.pathname.slice(prefix.length + 1);
  try {
    return decodeURIComponent(rest);
  } catch {
    return rest;
  }
}

export function date(epoch) {
  if (epoch === undefined || epoch === null) return "–";
  const d = new Date(epoch * 1000);
  const pad = (n, w = 2) => String(n).padStart(w, "0");
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}.${pad(d.getMilliseconds(), 3)}`;
}

export function duration(seconds) {
  if (seconds === undefined || seconds === null || Number.isNaN(seconds)) return "–";
  if (seconds < 1) return `${Math.round(seconds * 1000)} ms`;
  if (seconds < 60) return `${seconds.toFixed(seconds < 10 ? 2 : 1)} s`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 60) return `${minutes} min ${Math.round(seconds % 60)} s`;
  const hours = Math.floor(minutes / 60);
  if (hours < 48) return `${hours} h ${minutes % 60} min`;
  return `${Math.floor(hours / 24)} d ${hours % 24} h`;
}

const STATUS_WORDS = {
  RUNNING: "Running", SUCCEEDED: "Succeeded", FAILED: "Failed", TIMED_OUT: "Timed out", ABORTED: "Aborted",
  PENDING_REDRIVE: "Pending redrive", running: "In progress", succeeded: "Succeeded", failed: "Failed",
  caught: "Caught", cancelled: "Cancelled", "not-run": "Not run",
};

export function badge(status) {
  const key = String(status || "").toLowerCase().replace(/_/g, "-");
  return h("span", { class: `badge badge--${key}` }, STATUS_WORDS[status] || status);
}

// JSON text, pretty-printed when it parses.
export function pretty(text) {
  if (text === undefined || text === null) return "";
  if (typeof text !== "string") return JSON.stringify(text, null, 2);
  try {
    return JSON.stringify(JSON.parse(text), null, 2);
  } catch {
    return text;
  }
}

export function code(text, label) {
  return h("pre", { class: "code", tabindex: "0", "aria-label": label || "JSON" }, pretty(text));
}

export function toast(message, kind = "info") {
  const box = document.getElementById("toasts");
  const item = h("div", { class: `toast toast--${kind}`, role: kind === "error" ? "alert" : "status" }, message);
  box.append(item);
  setTimeout(() => item.remove(), kind === "error" ? 8000 : 4000);
}

export function debounce(fn, ms) {
  let timer;
  return (...args) => {
    clearTimeout(timer);
    timer = setTimeout(() => fn(...args), ms);
  };
}

// A modal dialog; resolves with the value of `submit(form)` or null when cancelled.
export function dialog(title, body, { submitLabel = "OK", submit } = {}) {
  return new Promise((resolve) => {
    const error = h("p", { class: "error", role: "alert" });
    const form = h("form", { method: "dialog", class: "dialog-form" },
      h("h2", {}, title), body, error,
      h("div", { class: "actions" },
        h("button", { type: "button", class: "ghost", onclick: () => { element.close(); resolve(null); } }, "Cancel"),
        h("button", { type: "submit", class: "primary" }, submitLabel)));
    const element = h("dialog", { class: "modal", "aria-label": title }, form);
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      try {
        const value = submit ? await submit(form) : true;
        element.close();
        resolve(value);
      } catch (problem) {
        error.textContent = problem.message;
      }
    });
    element.addEventListener("close", () => { element.remove(); resolve(null); });
    document.body.append(element);
    element.showModal();
  });
}
