"""Checkpoints: an Execution's whole position as plain JSON, and back.

A checkpoint is taken only when the execution is quiescent (every thread waits or has ended), which is
when a durable runtime commits. Events are not part of it: they are committed as they are recorded.

A durable runtime writes a Map's items and its iterations' results apart from the document, as rows that are
written once (`Iterations`): the document keeps the Map's counters and its running iterations, so what a commit
writes grows with what changed in it, not with the Map's size. Row -1 of a Map holds its items with its state's
input (none of them changes while the Map runs), row i the result of iteration i, written by the commit after
that iteration ended. The rows of a Map that a checkpoint no longer lists (it ended, or a Retry or Catch left it)
are needed no more (`Execution.stored_maps` tells which the last one listed).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from stepline.engine.interpreter import Execution
from stepline.engine.threads import Group, Thread
from stepline.engine.program import Program
from stepline.jsonvalue import JSON

_THREAD_FIELDS = ("index", "variables", "input", "entered_id", "entered_time", "last_event", "attempts", "retry_count",
                  "token", "waiting", "effective", "recorded", "finished", "task_token", "map_run")
_GROUP_FIELDS = ("kind", "results", "next_index", "failures", "done", "max_concurrency", "tolerated_count",
                 "tolerated_percentage", "distributed")


Iterations = list[tuple[str, int, JSON]]  # (map, index, value): rows of the Maps' items and results
HEAD = -1  # the row of a Map's items and its state's input


def checkpoint(execution: Execution, iterations: Iterations | None = None) -> dict[str, JSON]:
    """The execution's position as JSON (no events). With `iterations`, the Maps' items and results are left out:
    the rows not written yet are appended to it (and count as written from now on)."""
    threads = [_thread(t, retained, iterations) for t, retained in _walk(execution.threads[""], False)] \
        if "" in execution.threads else []
    maps = [thread["group"]["stored"] for thread in threads if "stored" in thread.get("group", {})]
    if iterations is not None:
        execution.stored_maps = maps
    return {
        "status": execution.status,
        "output": execution.output,
        "output_text": execution.output_text,
        "error": execution.error,
        "cause": execution.cause,
        "stop_time": execution.stop_time.isoformat() if execution.stop_time else None,
        "event_count": execution.event_count,
        "invocations": dict(execution.invocations),
        "redrive_count": execution.execution_context.get("RedriveCount"),
        "threads": threads,
        "maps": maps,
    }


def _walk(t: Thread, retained: bool) -> list[tuple[Thread, bool]]:
    """Every thread under t (t first); `retained`: kept by a failed Map/Parallel for a redrive."""
    found = [(t, retained)]
    for group in (t.group, t.failed_group):
        if group is not None:
            for child in group.running.values():
                found += _walk(child, False)
            for child in group.unfinished.values():
                found += _walk(child, True)
    return found


def map_key(t: Thread) -> str:
    """The Map a thread runs, one per entering of the state and per Retry of it (a redrive keeps it)."""
    return f"{t.key}@{t.entered_id}.{t.retry_count}"


def _thread(t: Thread, retained: bool, iterations: Iterations | None) -> dict[str, JSON]:
    record = {field: getattr(t, field) for field in _THREAD_FIELDS}
    record["key"] = t.key
    record["machine"] = t.machine.at
    record["state"] = t.state.name
    record["parent"] = t.parent.owner.key if t.parent is not None else None
    record["failed_events"] = list(t.failed_events)
    record["retained"] = retained
    group = t.group or t.failed_group
    if group is not None:
        spec = record["group"] = {field: getattr(group, field) for field in _GROUP_FIELDS}
        spec["failed"] = t.failed_group is not None
        spec["running"] = sorted(group.running)
        # a Map's inputs are its items; a Parallel gives every branch the same input
        spec["items"] = group.items if group.kind == "Map" else group.inputs[:1]
        spec["size"] = len(group.inputs)
        if group.kind == "Map" and iterations is not None:
            spec["stored"] = key = map_key(t)
            iterations += _unwritten(key, t, group)
            spec["items"] = spec["results"] = record["input"] = record["effective"] = None
    return record


def _unwritten(key: str, t: Thread, group: Group) -> Iterations:
    """The rows of the Map that are not written yet (all of them the first time), counted as written."""
    if group.unwritten is None:
        rows: Iterations = [(key, HEAD, {"items": group.items, "input": t.input, "effective": t.effective})]
        ended = set(range(group.next_index)) - group.running.keys() - group.unfinished.keys()
        indexes = sorted(ended)
    else:
        rows, indexes = [], group.unwritten
    rows += [(key, index, group.results[index]) for index in indexes]
    group.unwritten = []
    return rows


def restore(program: Program, document: JSON, iterations: Mapping[str, Mapping[int, JSON]] | None = None,
            **identity: object) -> Execution:
    """An Execution in the position `document` records; `iterations`: the rows of the Maps it lists under "maps"
    by Map and index; `identity` are the Execution constructor's arguments."""
    execution = Execution(program, **identity)  # type: ignore[arg-type]
    execution.status = document["status"]
    execution.output = document["output"]
    execution.output_text = document["output_text"]
    execution.error = document["error"]
    execution.cause = document["cause"]
    execution.stop_time = datetime.fromisoformat(document["stop_time"]) if document["stop_time"] else None
    execution.event_count = document["event_count"]
    execution.invocations.update(document["invocations"])
    execution.stored_maps = list(document.get("maps", ()))
    if document.get("redrive_count") is not None:
        execution.execution_context["RedriveCount"] = document["redrive_count"]
    records = document["threads"]
    threads: dict[str, Thread] = {}
    for record in records:
        machine = program.machines[record["machine"]]
        t = Thread(record["key"], machine, None, record["index"], record["variables"], record["input"],
                   record["last_event"], record["recorded"])
        for field in _THREAD_FIELDS:
            if field in record:  # a checkpoint written before a field existed keeps its default
                setattr(t, field, record[field])
        # a thread that succeeded was written without a state before its last one was kept: it runs no more
        t.state = machine.states[record["state"] if record["state"] is not None else machine.start_at]
        t.failed_events = tuple(record["failed_events"])
        threads[t.key] = t
    for record in records:
        t = threads[record["key"]]
        spec = record.get("group")
        if spec is not None:
            stored = spec.get("stored")
            rows = (iterations or {})[stored] if stored is not None else {}
            if stored is not None:
                head = rows[HEAD]
                spec["items"], t.input, t.effective = head["items"], head["input"], head["effective"]
            items = spec["items"]
            inputs = items if spec["kind"] == "Map" else items * spec["size"]
            group = Group(t, spec["kind"], inputs, items=items if spec["kind"] == "Map" else None)
            for field in _GROUP_FIELDS:
                setattr(group, field, spec[field])
            if stored is not None:
                group.results = [None] * len(inputs)
                for index, result in rows.items():
                    if index != HEAD:
                        group.results[index] = result
                group.unwritten = []
            if spec["failed"]:
                t.failed_group = group
            else:
                t.group = group
    for record in records:
        t = threads[record["key"]]
        if record["parent"] is not None:
            owner = threads[record["parent"]]
            siblings = owner.group or owner.failed_group
            assert siblings is not None  # a parent's record holds the group of its children
            t.parent = siblings
            (siblings.unfinished if record["retained"] else siblings.running)[t.index] = t
    retained = {record["key"] for record in records if record["retained"]}
    execution.threads = {key: t for key, t in threads.items() if key not in retained}
    return execution
