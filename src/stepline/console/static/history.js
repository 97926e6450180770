// An execution's history, read as the console shows it: one "visit" per time a state was entered, with its
// input, output, parameters, error, retries and timing, and each Map iteration's status. Events are added as
// they arrive (the live stream), so everything here is incremental. It interprets recorded events only; what
// happens next is the engine's business.

const FAILURE = /(Failed|TimedOut)$/;
const SCHEDULED = /(Scheduled)$/;

export class History {
  constructor() {
    this.events = [];
    this.visits = [];
    this.context = new Map([[0, { visit: null, iteration: "" }]]); // event id -> where it happened
    this.visitOf = new Map(); // event id -> visit
    this.status = "RUNNING";
    this.start = null;
    this.end = null;
    this.types = new Set();
    this.round = 0; // redrives so far: a redriven state's new visits replace the old ones on the graph
  }

  add(events) {
    for (const event of events) {
      if (this.context.has(event.id) && event.id !== 0) continue; // already seen (a reconnect)
      this.events.push(event);
      this.types.add(event.type);
      this._read(event);
    }
  }

  _read(event) {
    const type = event.type;
    const at = this.context.get(event.previousEventId) || { visit: null, iteration: "" };
    let here = at;
    let owner = null; // the visit an event belongs to, when it is not the one it leaves `here`
    const time = event.timestamp;
    if (this.start === null) this.start = time;
    if (type === "ExecutionStarted") {
      this.input = details(event).input;
    } else if (type.endsWith("StateEntered")) {
      let parent = at.visit;
      if (parent && parent.open && parent.failure && parent.type !== "Parallel" && parent.type !== "Map") {
        this._close(parent, "caught", time); // a Catch moved on from the failed state
        parent = parent.parent;
      }
      const visit = {
        index: this.visits.length, name: details(event).name, type: type.replace("StateEntered", ""),
        parent, iteration: at.iteration, start: time, end: null, open: true, status: "running",
        input: details(event).input, output: undefined, parameters: undefined, error: undefined,
        cause: undefined, failure: false, attempts: 0, enteredId: event.id, iterations: new Map(),
        round: this.round,
      };
      this.visits.push(visit);
      here = { visit, iteration: at.iteration };
    } else if (type.endsWith("StateExited")) {
      const visit = this._find(at.visit, (v) => v.name === details(event).name && v.open);
      if (visit) {
        visit.output = details(event).output;
        this._close(visit, visit.failure ? "caught" : "succeeded", time);
        here = { visit: visit.parent, iteration: visit.iteration };
        owner = visit;
      }
    } else if (type.startsWith("MapIteration")) {
      const map = this._find(at.visit, (v) => v.type === "Map" && v.open) || at.visit;
      const info = details(event);
      if (map) {
        const iteration = map.iterations.get(info.index) || { index: info.index, status: "running", start: time };
        if (type === "MapIterationStarted") {
          here = { visit: map, iteration: `${at.iteration}${map.index}:${info.index}/` };
        } else {
          iteration.status = { MapIterationSucceeded: "succeeded", MapIterationFailed: "failed",
                               MapIterationAborted: "cancelled" }[type] || iteration.status;
          iteration.end = time;
          here = { visit: map, iteration: map.iteration };
        }
        map.iterations.set(info.index, iteration);
      }
    } else if (/^(Parallel|Map)State/.test(type)) {
      const kind = type.startsWith("Parallel") ? "Parallel" : "Map";
      const owner = this._find(at.visit, (v) => v.type === kind && v.open);
      if (owner) {
        here = { visit: owner, iteration: owner.iteration };
        if (/(Failed|Aborted)$/.test(type)) {
          for (const visit of this.visits) {
            if (visit.open && visit !== owner && this._inside(visit, owner)) {
              this._close(visit, visit.failure ? "failed" : "cancelled", time);
            }
          }
          if (type.endsWith("Failed")) {
            owner.failure = true;
            const info = details(event);
            if (info.error !== undefined) owner.error = info.error;
            if (info.cause !== undefined) owner.cause = info.cause;
          }
        }
      }
    } else if (type.startsWith("Execution") && type !== "ExecutionStarted") {
      this.status = { ExecutionSucceeded: "SUCCEEDED", ExecutionFailed: "FAILED", ExecutionAborted: "ABORTED",
                      ExecutionTimedOut: "TIMED_OUT" }[type] || this.status;
      if (type === "ExecutionRedriven") {
        this.status = "RUNNING";
        this.round += 1;
        this.end = null;
      }
      if (type !== "ExecutionRedriven") {
        this.end = time;
        this.output = details(event).output;
        this.error = details(event).error;
        this.cause = details(event).cause;
        for (const visit of this.visits) {
          if (visit.open) {
            const failed = visit.failure || visit.type === "Fail" || (type === "ExecutionFailed" && !visit.parent);
            this._close(visit, failed && type !== "ExecutionAborted" ? "failed" : "cancelled", time);
          }
        }
      }
    } else if (at.visit) {
      const visit = at.visit;
      const info = details(event);
      if (SCHEDULED.test(type)) {
        visit.attempts += 1;
        visit.failure = false;
        visit.parameters = info.parameters ?? info.input;
        visit.resource = info.resource;
      } else if (FAILURE.test(type)) {
        visit.failure = true;
        visit.error = info.error;
        visit.cause = info.cause;
      } else if (type.endsWith("Succeeded") && info.output !== undefined) {
        visit.result = info.output;
      }
    }
    this.context.set(event.id, here);
    if (owner || here.visit) this.visitOf.set(event.id, owner || here.visit);
  }

  _find(visit, test) {
    for (let v = visit; v; v = v.parent) if (test(v)) return v;
    return null;
  }

  _inside(visit, owner) {
    for (let v = visit.parent; v; v = v.parent) if (v === owner) return true;
    return false;
  }

  _close(visit, status, time) {
    visit.open = false;
    visit.status = status;
    visit.end = time;
  }

  // The visits of a state, optionally only those inside one Map iteration ("<map visit>:<index>/").
  visitsOf(name, iteration = "") {
    return this.visits.filter((v) => v.name === name && (!iteration || v.iteration.startsWith(iteration)));
  }

  // name -> status for colouring the graph: the latest round of each state; running wins; inside a Map a
  // failed iteration wins over the others; otherwise the latest visit.
  statuses(iteration = "") {
    const result = new Map();
    const rounds = new Map();
    for (const visit of this.visits) {
      if (iteration && !visit.iteration.startsWith(iteration)) continue;
      const round = rounds.get(visit.name);
      const previous = result.get(visit.name);
      let status = visit.status;
      if (round !== undefined && visit.round <= round) {
        if (previous === "running") status = "running";
        else if (visit.iteration && previous === "failed" && status !== "running") status = "failed";
      }
      result.set(visit.name, status);
      rounds.set(visit.name, visit.round);
    }
    return result;
  }

  nameOfEvent(id) {
    const visit = this.visitOf.get(id);
    return visit ? visit.name : "";
  }
}

export function details(event) {
  for (const key in event) if (key.endsWith("EventDetails")) return event[key] || {};
  return {};
}
