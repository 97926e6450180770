// Design mode: edit a definition as states in a form, on the graph, or as ASL JSON; the three stay in sync.
// Diagnostics come from ValidateStateMachineDefinition (the API's own checks), with a warning for each Task that
// no integration of this server serves, and are shown on their states.

import { aws, consolePost } from "./api.js";
import { navigate } from "./app.js";
import { GraphView } from "./graph.js";
import { clear, debounce, h, href, toast } from "./ui.js";

const TYPES = ["Pass", "Task", "Choice", "Wait", "Succeed", "Fail", "Parallel", "Map"];
const TEMPLATES = {
  Pass: () => ({ Type: "Pass" }),
  Task: () => ({ Type: "Task", Resource: "arn:aws:states:::lambda:invoke", Parameters: { FunctionName: "my-function", "Payload.$": "$" } }),
  Choice: () => ({ Type: "Choice", Choices: [] }),
  Wait: () => ({ Type: "Wait", Seconds: 5 }),
  Succeed: () => ({ Type: "Succeed" }),
  Fail: () => ({ Type: "Fail", Error: "Failed", Cause: "" }),
  Parallel: () => ({ Type: "Parallel", Branches: [{ StartAt: "Branch step", States: { "Branch step": { Type: "Pass", End: true } } }] }),
  Map: () => ({ Type: "Map", ItemProcessor: { ProcessorConfig: { Mode: "INLINE" }, StartAt: "Item step", States: { "Item step": { Type: "Pass", End: true } } } }),
};
const NEW_DEFINITION = { Comment: "A new state machine", StartAt: "Hello", States: { Hello: { Type: "Pass", Result: "Hello", Next: "World" }, World: { Type: "Pass", Result: "World", End: true } } };

export async function renderDesign(main, arn) {
  let machine = null;
  if (arn) machine = await aws("DescribeStateMachine", { stateMachineArn: arn });
  document.title = `${machine ? machine.name : "New state machine"} · design · stepline`;
  let definition = machine ? JSON.parse(machine.definition) : structuredClone(NEW_DEFINITION);
  let selected = null; // { machine: the States' owner object, name }
  let diagnostics = [];
  const graph = new GraphView({ label: "Design graph", onSelect: (id) => { selectId(id); } });
  const list = h("ol", { class: "state-list", id: "state-list", "aria-label": "States" });
  const form = h("div", { class: "state-form", id: "state-form" });
  const problems = h("ul", { class: "diagnostics", id: "diagnostics", "aria-live": "polite" });
  const verdict = h("span", { id: "validation", class: "badge" });
  const editor = h("textarea", { id: "code", class: "mono code-editor", spellcheck: false, "aria-label": "Definition (ASL JSON)", rows: 20 });
  const parseError = h("p", { class: "hint error", id: "code-error", role: "alert" });
  const nameInput = h("input", { id: "machine-name", placeholder: "MyStateMachine", "aria-label": "State machine name", value: machine ? machine.name : "" });
  const addType = h("select", { id: "add-type", "aria-label": "Type of the new state" }, TYPES.map((t) => h("option", { value: t }, t)));
  const addName = h("input", { id: "add-name", placeholder: "New state name", "aria-label": "Name of the new state" });

  const saveButtons = machine ? [
    h("button", { type: "button", class: "primary", id: "save", onclick: save }, "Save revision"),
    h("button", { type: "button", id: "publish", onclick: publish }, "Publish version"),
    h("a", { class: "button ghost", href: href("/state-machines", machine.stateMachineArn) }, "Close"),
  ] : [nameInput, h("button", { type: "button", class: "primary", id: "create", onclick: create }, "Create state machine")];

  clear(main,
    h("nav", { class: "crumbs", "aria-label": "Breadcrumb" }, h("a", { href: "/" }, "State machines"), " / ",
      machine ? [h("a", { href: href("/state-machines", machine.stateMachineArn) }, machine.name), " / design"] : "New state machine"),
    h("div", { class: "page-head" }, h("h1", {}, "Design ", verdict), h("div", { class: "actions" }, saveButtons)),
    h("div", { class: "design" },
      h("section", { class: "panel design-states", "aria-labelledby": "states-title" },
        h("h2", { id: "states-title" }, "States"), list,
        h("form", { class: "add-state", onsubmit: (event) => { event.preventDefault(); addState(); } },
          h("h3", {}, "Add a state"), addType, addName, h("button", { type: "submit" }, "Add after selected"))),
      h("section", { class: "panel design-main", "aria-label": "Graph and code" },
        h("div", { class: "graph-box" }, graph.element),
        h("h2", {}, h("label", { for: "code" }, "Code (ASL JSON)")), editor, parseError),
      h("section", { class: "panel design-form", "aria-labelledby": "form-title" },
        h("h2", { id: "form-title" }, "State"), form, h("h2", {}, "Diagnostics"), problems)));

  // ------------------------------------------------------------------ the model

  function* walk(owner, base, path) { // every state: [id, owner machine, name, state]
    const states = owner && typeof owner.States === "object" && owner.States ? owner.States : {};
    for (const [name, s] of Object.entries(states)) {
      const id = `${base}/States/${name}`;
      yield { id, owner, name, state: s, depth: path };
      if (s && s.Type === "Parallel" && Array.isArray(s.Branches)) {
        for (const [i, b] of s.Branches.entries()) yield* walk(b, `${id}/Branches[${i}]`, path + 1);
      } else if (s && s.Type === "Map") {
        const key = s.ItemProcessor ? "ItemProcessor" : "Iterator";
        if (s[key]) yield* walk(s[key], `${id}/${key}`, path + 1);
      }
    }
  }
  const entries = () => [...walk(definition, "", 0)];
  const current = () => selected && selected.owner.States && selected.owner.States[selected.name] ? selected : null;

  function selectId(id) {
    const entry = entries().find((e) => e.id === id);
    selected = entry ? { owner: entry.owner, name: entry.name, id } : null;
    showList();
    showForm();
    graph.select(id);
  }

  // Something changed the definition: show it everywhere except where the change came from.
  function changed(from) {
    if (from !== "code") {
      editor.value = JSON.stringify(definition, null, 2);
      parseError.textContent = "";
    }
    if (selected) selected.id = entries().find((e) => e.owner === selected.owner && e.name === selected.name)?.id;
    showList();
    if (from !== "form") showForm();
    redraw();
    validate();
  }

  const redraw = debounce(async () => {
    try {
      await graph.load(definition);
      if (selected && selected.id) graph.select(selected.id);
      graph.setDiagnostics(diagnostics);
    } catch (error) { toast(error.message, "error"); }
  }, 120);

  const validate = debounce(async () => {
    try {
      const text = JSON.stringify(definition);
      const [result, unserved] = await Promise.all([
        aws("ValidateStateMachineDefinition", { definition: text, severity: "WARNING" }),
        consolePost("unserved", { definition: text }),
      ]);
      diagnostics = [...result.diagnostics, ...(result.result === "OK" ? unserved.diagnostics : [])];
      verdict.textContent = result.result === "OK" ? "Valid" : `${diagnostics.filter((d) => d.severity === "ERROR").length} errors`;
      verdict.className = `badge badge--${result.result === "OK" ? "succeeded" : "failed"}`;
      const onStates = graph.setDiagnostics(diagnostics);
      clear(problems, diagnostics.length ? diagnostics.map((d) => {
        const id = graph.nodeFor(d.location || "");
        return h("li", { class: `diagnostic diagnostic--${d.severity.toLowerCase()}` },
          h("strong", {}, d.code), " ", d.message, " ",
          d.location ? h("button", { type: "button", class: "ghost small mono", disabled: !id, onclick: () => id && selectId(id) }, d.location) : null);
      }) : h("li", { class: "muted" }, "No problems."));
      for (const item of list.querySelectorAll("li[data-id]")) item.classList.toggle("invalid", onStates.has(item.dataset.id));
    } catch (error) { toast(error.message, "error"); }
  }, 250);

  editor.addEventListener("input", debounce(() => {
    try {
      const parsed = JSON.parse(editor.value);
      if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) throw new Error("The definition must be a JSON object");
      definition = parsed;
      if (selected) {
        const entry = entries().find((e) => e.id === selected.id);
        selected = entry ? { owner: entry.owner, name: entry.name, id: entry.id } : null;
      }
      parseError.textContent = "";
      changed("code");
    } catch (error) {
      parseError.textContent = `Not valid JSON: ${error.message}`;
    }
  }, 300));

  // ------------------------------------------------------------------ the list of states

  function showList() {
    clear(list, entries().map((e) => {
      const siblings = Object.keys(e.owner.States);
      const position = siblings.indexOf(e.name);
      return h("li", { dataset: { id: e.id }, class: selected && selected.id === e.id ? "selected" : "", style: `margin-left:${e.depth}rem` },
        h("button", { type: "button", class: "ghost state-pick", "aria-current": selected && selected.id === e.id ? "true" : null,
          onclick: () => selectId(e.id) }, e.name, " ", h("span", { class: "muted small" }, e.state && e.state.Type)),
        h("span", { class: "row-actions" },
          h("button", { type: "button", class: "ghost small", "aria-label": `Move ${e.name} up`, disabled: position === 0, onclick: () => move(e, -1) }, "↑"),
          h("button", { type: "button", class: "ghost small", "aria-label": `Move ${e.name} down`, disabled: position === siblings.length - 1, onclick: () => move(e, 1) }, "↓"),
          h("button", { type: "button", class: "ghost small", "aria-label": `Remove ${e.name}`, onclick: () => remove(e) }, "✕")));
    }));
  }

  function reorder(owner, names) {
    const states = owner.States;
    owner.States = Object.fromEntries(names.map((n) => [n, states[n]]));
  }

  function move(entry, delta) {
    const names = Object.keys(entry.owner.States);
    const i = names.indexOf(entry.name);
    [names[i], names[i + delta]] = [names[i + delta], names[i]];
    reorder(entry.owner, names);
    changed("list");
  }

  function remove(entry) {
    const removed = entry.owner.States[entry.name];
    const follow = removed && typeof removed.Next === "string" ? removed.Next : null;
    delete entry.owner.States[entry.name];
    retarget(entry.owner, entry.name, follow);
    if (entry.owner.StartAt === entry.name) entry.owner.StartAt = follow || Object.keys(entry.owner.States)[0] || "";
    if (selected && selected.owner === entry.owner && selected.name === entry.name) selected = null;
    changed("list");
    toast(`Removed ${entry.name}`);
  }

  // Point every transition to `from` at `to` (null: a Next becomes End).
  function retarget(owner, from, to) {
    for (const s of Object.values(owner.States)) {
      if (!s || typeof s !== "object") continue;
      if (s.Next === from) { if (to) s.Next = to; else { delete s.Next; s.End = true; } }
      if (s.Default === from && to) s.Default = to;
      for (const rule of Array.isArray(s.Choices) ? s.Choices : []) if (rule.Next === from && to) rule.Next = to;
      for (const c of Array.isArray(s.Catch) ? s.Catch : []) if (c.Next === from && to) c.Next = to;
    }
  }

  function addState() {
    const type = addType.value;
    const owner = current() ? selected.owner : definition;
    if (!owner.States || typeof owner.States !== "object") owner.States = {};
    let name = addName.value.trim() || `${type} state`;
    for (let n = 2; owner.States[name]; n += 1) name = `${addName.value.trim() || `${type} state`} ${n}`;
    const state = TEMPLATES[type]();
    const after = current() ? selected.name : Object.keys(owner.States).slice(-1)[0];
    const previous = after ? owner.States[after] : null;
    const terminal = ["Succeed", "Fail"].includes(type);
    if (type === "Choice") state.Default = previous && typeof previous.Next === "string" ? previous.Next : undefined;
    if (!terminal && type !== "Choice") {
      if (previous && typeof previous.Next === "string") state.Next = previous.Next;
      else state.End = true;
    }
    if (state.Default === undefined) delete state.Default;
    if (previous && previous.Type !== "Choice" && !["Succeed", "Fail"].includes(previous.Type)) {
      previous.Next = name;
      delete previous.End;
    }
    const names = Object.keys(owner.States);
    const at = after ? names.indexOf(after) + 1 : names.length;
    owner.States[name] = state;
    names.splice(at, 0, name);
    reorder(owner, names);
    if (!owner.StartAt) owner.StartAt = name;
    selected = { owner, name };
    addName.value = "";
    changed("list");
    showForm();
  }

  // ------------------------------------------------------------------ the form

  function field(label, input, hint) {
    return h("div", { class: "field" }, h("label", { for: input.id }, label), input, hint ? h("p", { class: "hint" }, hint) : null);
  }

  function targetSelect(id, value, names, { allowEnd = false, allowNone = false, onchange }) {
    return h("select", { id, onchange: (event) => onchange(event.target.value) },
      allowEnd ? h("option", { value: "" , selected: !value }, "(End)") : null,
      allowNone ? h("option", { value: "", selected: !value }, "(none)") : null,
      names.map((n) => h("option", { value: n, selected: n === value }, n)),
      value && !names.includes(value) ? h("option", { value, selected: true }, `${value} (missing)`) : null);
  }

  function jsonField(id, label, value, onvalue) {
    const area = h("textarea", { id, class: "mono", rows: 4, spellcheck: false, value: value === undefined ? "" : JSON.stringify(value, null, 2) });
    const note = h("p", { class: "hint" });
    area.addEventListener("input", () => {
      if (!area.value.trim()) { onvalue(undefined); note.textContent = ""; return; }
      try { onvalue(JSON.parse(area.value)); note.textContent = ""; } catch (error) { note.textContent = `Not JSON yet: ${error.message}`; }
    });
    return h("div", { class: "field" }, h("label", { for: id }, label), area, note);
  }

  function text(id, label, value, onvalue, attrs = {}) {
    const input = h("input", { id, value: value ?? "", ...attrs });
    input.addEventListener("input", () => onvalue(input.value));
    return field(label, input);
  }

  function showForm() {
    const entry = current();
    if (!entry) {
      const names = Object.keys(definition.States || {});
      clear(form, h("p", { class: "muted" }, "The state machine. Select a state to edit it."),
        field("Start at", targetSelect("start-at", definition.StartAt, names, { onchange: (v) => { definition.StartAt = v; changed("form"); } })),
        text("machine-comment", "Comment", definition.Comment, (v) => { if (v) definition.Comment = v; else delete definition.Comment; changed("form"); }));
      return;
    }
    const { owner, name } = entry;
    const s = owner.States[name];
    const names = Object.keys(owner.States).filter((n) => n !== name || s.Type === "Choice");
    const set = (key, value) => { if (value === undefined || value === "") delete s[key]; else s[key] = value; changed("form"); };
    const rename = h("input", { id: "state-name", value: name });
    rename.addEventListener("change", () => {
      const next = rename.value.trim();
      if (!next || next === name || owner.States[next]) { rename.value = name; return; }
      const keys = Object.keys(owner.States);
      owner.States = Object.fromEntries(keys.map((k) => [k === name ? next : k, owner.States[k]]));
      retarget(owner, name, next);
      if (owner.StartAt === name) owner.StartAt = next;
      selected = { owner, name: next };
      changed("list");
    });
    const type = h("select", { id: "state-type", onchange: (event) => {
      const fresh = TEMPLATES[event.target.value]();
      for (const keep of ["Next", "End", "Comment", "InputPath", "OutputPath"]) if (s[keep] !== undefined && !["Choice", "Succeed", "Fail"].includes(fresh.Type)) fresh[keep] = s[keep];
      owner.States[name] = fresh;
      changed("list");
    } }, TYPES.map((t) => h("option", { value: t, selected: t === s.Type }, t)));
    const parts = [field("Name", rename), field("Type", type),
      text("state-comment", "Comment", s.Comment, (v) => set("Comment", v))];
    if (!["Choice", "Succeed", "Fail"].includes(s.Type)) {
      parts.push(field("Next", targetSelect("state-next", s.Next, names, { allowEnd: true, onchange: (v) => {
        if (v) { s.Next = v; delete s.End; } else { delete s.Next; s.End = true; }
        changed("form");
      } })));
    }
    if (s.Type === "Task") {
      parts.push(text("state-resource", "Resource", s.Resource, (v) => set("Resource", v), { class: "mono" }),
        jsonField("state-parameters", "Parameters (JSON)", s.Parameters, (v) => set("Parameters", v)),
        text("state-timeout", "TimeoutSeconds", s.TimeoutSeconds, (v) => set("TimeoutSeconds", v ? Number(v) : undefined), { type: "number", min: 1 }));
    }
    if (s.Type === "Pass") parts.push(jsonField("state-result", "Result (JSON)", s.Result, (v) => set("Result", v)));
    if (s.Type === "Wait") {
      parts.push(text("state-seconds", "Seconds", s.Seconds, (v) => set("Seconds", v ? Number(v) : undefined), { type: "number", min: 0 }),
        text("state-timestamp", "Timestamp", s.Timestamp, (v) => set("Timestamp", v)));
    }
    if (s.Type === "Fail") {
      parts.push(text("state-error", "Error", s.Error, (v) => set("Error", v)), text("state-cause", "Cause", s.Cause, (v) => set("Cause", v)));
    }
    if (s.Type === "Map") parts.push(text("state-items-path", "ItemsPath", s.ItemsPath, (v) => set("ItemsPath", v), { class: "mono" }),
      text("state-max-concurrency", "MaxConcurrency", s.MaxConcurrency, (v) => set("MaxConcurrency", v ? Number(v) : undefined), { type: "number", min: 0 }));
    if (s.Type === "Choice") {
      const rules = Array.isArray(s.Choices) ? s.Choices : (s.Choices = []);
      parts.push(h("h3", {}, "Rules"), rules.map((rule, i) => {
        const { Next, ...condition } = rule;
        return h("fieldset", { class: "rule" }, h("legend", {}, `Rule ${i + 1}`),
          jsonField(`rule-${i}-condition`, "Condition (JSON)", condition, (v) => { if (v && typeof v === "object") { rules[i] = { ...v, Next: rules[i].Next }; changed("form"); } }),
          field("Then go to", targetSelect(`rule-${i}-next`, Next, names, { onchange: (v) => { rule.Next = v; changed("form"); } })),
          h("button", { type: "button", class: "ghost small", onclick: () => { rules.splice(i, 1); changed("list"); } }, "Remove rule"));
      }), h("button", { type: "button", class: "small", onclick: () => {
        rules.push({ Variable: "$.value", NumericEquals: 0, Next: names[0] }); changed("list");
      } }, "Add rule"),
      field("Default", targetSelect("state-default", s.Default, names, { allowNone: true, onchange: (v) => set("Default", v || undefined) })));
    }
    if (["Task", "Parallel", "Map"].includes(s.Type)) {
      const catchers = Array.isArray(s.Catch) ? s.Catch : [];
      parts.push(h("h3", {}, "Catch"), catchers.map((c, i) => h("fieldset", { class: "rule" }, h("legend", {}, `Catcher ${i + 1}`),
        text(`catch-${i}-errors`, "Errors (comma-separated)", (c.ErrorEquals || []).join(", "), (v) => { c.ErrorEquals = v.split(",").map((x) => x.trim()).filter(Boolean); changed("form"); }),
        field("Then go to", targetSelect(`catch-${i}-next`, c.Next, names, { onchange: (v) => { c.Next = v; changed("form"); } })),
        h("button", { type: "button", class: "ghost small", onclick: () => { catchers.splice(i, 1); if (!catchers.length) delete s.Catch; changed("list"); } }, "Remove catcher"))),
      h("button", { type: "button", class: "small", onclick: () => {
        s.Catch = [...catchers, { ErrorEquals: ["States.ALL"], Next: names.find((n) => n !== name) || name }]; changed("list");
      } }, "Add catcher"),
      jsonField("state-retry", "Retry (JSON)", s.Retry, (v) => set("Retry", v)));
    }
    parts.push(h("details", {}, h("summary", {}, "All fields (JSON)"),
      jsonField("state-json", "This state as JSON", s, (v) => { if (v && typeof v === "object") { owner.States[name] = v; changed("list"); } })));
    clear(form, parts);
  }

  // ------------------------------------------------------------------ saving

  async function save() {
    try {
      const result = await aws("UpdateStateMachine", { stateMachineArn: machine.stateMachineArn, definition: JSON.stringify(definition, null, 2) });
      toast(`Saved: revision ${result.revisionId}`);
    } catch (error) { toast(error.message, "error"); }
  }

  async function publish() {
    try {
      const result = await aws("UpdateStateMachine", { stateMachineArn: machine.stateMachineArn, definition: JSON.stringify(definition, null, 2), publish: true });
      toast(`Published ${result.stateMachineVersionArn.split(":").pop() ? `version ${result.stateMachineVersionArn.split(":").pop()}` : ""}`);
    } catch (error) { toast(error.message, "error"); }
  }

  async function create() {
    const name = nameInput.value.trim();
    if (!name) { toast("Name the state machine first", "error"); nameInput.focus(); return; }
    try {
      const result = await aws("CreateStateMachine", { name, definition: JSON.stringify(definition, null, 2), roleArn: "arn:aws:iam::123456789012:role/stepline" });
      toast(`Created ${name}`);
      navigate(href("/state-machines", result.stateMachineArn));
    } catch (error) { toast(error.message, "error"); }
  }

  changed("init");
  return null;
}
