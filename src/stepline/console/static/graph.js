// The graph view: the SVG drawn by stepline.graph (the same drawing as `stepline graph`), with zoom, pan,
// fit, keyboard navigation, selection, and classes for each state's status or diagnostics.

import { consolePost } from "./api.js";
import { h } from "./ui.js";

const STATUSES = ["running", "succeeded", "failed", "caught", "cancelled", "not-run"];

export class GraphView {
  constructor({ onSelect, label = "State machine graph" } = {}) {
    this.onSelect = onSelect;
    this.viewport = h("div", { class: "graph-viewport", tabindex: "0", role: "application",
      "aria-label": `${label}: arrow keys pan, + and - zoom, 0 fits, Tab moves between states` });
    this.element = h("div", { class: "graph" },
      h("div", { class: "graph-tools", role: "toolbar", "aria-label": "Graph view" },
        h("button", { type: "button", class: "ghost", title: "Zoom in (+)", "aria-label": "Zoom in", onclick: () => this.zoom(1.25) }, "+"),
        h("button", { type: "button", class: "ghost", title: "Zoom out (-)", "aria-label": "Zoom out", onclick: () => this.zoom(0.8) }, "−"),
        h("button", { type: "button", class: "ghost", title: "Fit (0)", "aria-label": "Fit to view", onclick: () => this.fit() }, "Fit")),
      this.viewport);
    this.nodes = new Map(); // id -> element
    this.byName = new Map(); // state name -> [element]
    this.selected = null;
    this.view = null;
    this._wire();
  }

  async load(definition) {
    const text = typeof definition === "string" ? definition : JSON.stringify(definition);
    const { svg, layout } = await consolePost("graph", { definition: text });
    this.show(svg, layout);
  }

  show(svg, layout) {
    const keep = this.view && this.layout && this.layout.width === layout.width && this.layout.height === layout.height;
    this.layout = layout;
    this.viewport.innerHTML = svg;
    this.svg = this.viewport.querySelector("svg");
    this.nodes.clear();
    this.byName.clear();
    for (const node of this.svg.querySelectorAll(".sl-node")) {
      this.nodes.set(node.dataset.id, node);
      if (node.classList.contains("sl-marker")) continue;
      node.setAttribute("tabindex", "0");
      node.setAttribute("role", "button");
      const list = this.byName.get(node.dataset.name) || [];
      list.push(node);
      this.byName.set(node.dataset.name, list);
    }
    if (this.selected && this.nodes.has(this.selected)) this.nodes.get(this.selected).classList.add("sl-selected");
    if (keep) this._apply();
    else this.fit();
  }

  _wire() {
    const viewport = this.viewport;
    let drag = null;
    viewport.addEventListener("pointerdown", (event) => {
      if (event.button !== 0 || event.target.closest(".sl-node:not(.sl-marker):not(.sl-compound)")) return;
      drag = { x: event.clientX, y: event.clientY, moved: false };
    });
    viewport.addEventListener("pointermove", (event) => {
      if (!drag) return;
      const dx = event.clientX - drag.x;
      const dy = event.clientY - drag.y;
      if (!drag.moved && Math.abs(dx) + Math.abs(dy) > 3) {
        drag.moved = true;
        viewport.setPointerCapture(event.pointerId); // only a real drag captures: a click still reaches its state
      }
      if (!drag.moved) return;
      drag.x = event.clientX;
      drag.y = event.clientY;
      this.pan(-dx, -dy);
    });
    const end = () => { setTimeout(() => { drag = null; }, 0); };
    viewport.addEventListener("pointerup", end);
    viewport.addEventListener("pointercancel", end);
    viewport.addEventListener("wheel", (event) => {
      event.preventDefault();
      const box = viewport.getBoundingClientRect();
      this.zoom(event.deltaY < 0 ? 1.15 : 1 / 1.15, (event.clientX - box.left) / box.width, (event.clientY - box.top) / box.height);
    }, { passive: false });
    viewport.addEventListener("click", (event) => {
      if (drag && drag.moved) return;
      const node = event.target.closest(".sl-node");
      if (node && !node.classList.contains("sl-marker")) this.select(node.dataset.id, true);
    });
    viewport.addEventListener("keydown", (event) => {
      const node = event.target.closest && event.target.closest(".sl-node");
      if (node && (event.key === "Enter" || event.key === " ")) {
        event.preventDefault();
        this.select(node.dataset.id, true);
        return;
      }
      const step = 60;
      const keys = {
        "+": () => this.zoom(1.25), "=": () => this.zoom(1.25), "-": () => this.zoom(0.8), "0": () => this.fit(),
        ArrowLeft: () => this.pan(-step, 0), ArrowRight: () => this.pan(step, 0),
        ArrowUp: () => this.pan(0, -step), ArrowDown: () => this.pan(0, step),
      };
      if (keys[event.key] && !event.altKey && !event.ctrlKey && !event.metaKey) {
        event.preventDefault();
        keys[event.key]();
      }
    });
    viewport.addEventListener("focusin", (event) => {
      const node = event.target.closest && event.target.closest(".sl-node");
      if (node) this.reveal(node.dataset.id);
    });
    new ResizeObserver(() => { if (this.view) this._apply(); }).observe(viewport);
  }

  _size() {
    const box = this.viewport.getBoundingClientRect();
    return { width: Math.max(box.width, 50), height: Math.max(box.height, 50) };
  }

  fit() {
    if (!this.layout) return;
    const { width, height } = this._size();
    const scale = Math.min(width / this.layout.width, height / this.layout.height, 1.4);
    const w = width / scale;
    const hgt = height / scale;
    this.view = { x: (this.layout.width - w) / 2, y: Math.min(0, (this.layout.height - hgt) / 2), scale };
    this._apply();
  }

  zoom(factor, fx = 0.5, fy = 0.5) {
    if (!this.view) return;
    const { width, height } = this._size();
    const old = this.view.scale;
    const scale = Math.min(4, Math.max(0.05, old * factor));
    const px = this.view.x + (fx * width) / old;
    const py = this.view.y + (fy * height) / old;
    this.view = { x: px - (fx * width) / scale, y: py - (fy * height) / scale, scale };
    this._apply();
  }

  pan(dx, dy) {
    if (!this.view) return;
    this.view.x += dx / this.view.scale;
    this.view.y += dy / this.view.scale;
    this._apply();
  }

  // Bring a state into view (keeping the zoom) when it is off screen.
  reveal(id) {
    const node = this.layout && this.layout.nodes.find((n) => n.id === id);
    if (!node || !this.view) return;
    const { width, height } = this._size();
    const w = width / this.view.scale;
    const hgt = height / this.view.scale;
    const inside = node.x >= this.view.x && node.y >= this.view.y && node.x + node.w <= this.view.x + w && node.y + node.h <= this.view.y + hgt;
    if (!inside) {
      this.view.x = node.x + node.w / 2 - w / 2;
      this.view.y = node.y + node.h / 2 - hgt / 2;
      this._apply();
    }
  }

  _apply() {
    if (!this.svg) return;
    const { width, height } = this._size();
    const { x, y, scale } = this.view;
    this.svg.setAttribute("viewBox", `${x} ${y} ${width / scale} ${height / scale}`);
    this.svg.setAttribute("width", width);
    this.svg.setAttribute("height", height);
  }

  select(id, fromUser = false) {
    if (this.selected && this.nodes.has(this.selected)) this.nodes.get(this.selected).classList.remove("sl-selected");
    this.selected = id;
    const node = id && this.nodes.get(id);
    if (node) {
      node.classList.add("sl-selected");
      node.setAttribute("aria-pressed", "true");
      if (!fromUser) this.reveal(id);
    }
    if (fromUser && this.onSelect) this.onSelect(id, node ? node.dataset.name : null);
  }

  // name -> status ("running", "succeeded", ...); states not named are "not run".
  setStatuses(statuses) {
    for (const [name, nodes] of this.byName) {
      const status = statuses.get(name) || "not-run";
      for (const node of nodes) {
        for (const s of STATUSES) node.classList.toggle(`sl-status--${s}`, s === status);
        const base = `${node.dataset.type} state ${name}`;
        node.setAttribute("aria-label", `${base}: ${status.replace("-", " ")}`);
      }
    }
  }

  // Diagnostics (ValidateStateMachineDefinition's) on the states they are about: the longest id that prefixes
  // the location.
  setDiagnostics(diagnostics) {
    for (const node of this.nodes.values()) {
      node.classList.remove("sl-invalid");
      node.querySelector("title.sl-problems")?.remove();
    }
    const found = new Map();
    for (const diagnostic of diagnostics) {
      const id = this.nodeFor(diagnostic.location || "");
      if (!id) continue;
      found.set(id, [...(found.get(id) || []), diagnostic.message]);
    }
    for (const [id, messages] of found) {
      const node = this.nodes.get(id);
      node.classList.add("sl-invalid");
      node.setAttribute("aria-description", messages.join("; "));
    }
    return found;
  }

  nodeFor(location) {
    let best = null;
    for (const id of this.nodes.keys()) {
      if (!id.startsWith("/")) continue;
      if ((location === id || location.startsWith(`${id}/`)) && (!best || id.length > best.length)) best = id;
    }
    return best;
  }
}
