"""Checkpoints: an Execution's whole position as plain JSON, and back.

A checkpoint is taken only when the execution is quiescent (every thread waits or has ended), which is
when a durable runtime commits. Events are not part of it: they are committed as they are recorded.
"""

from __future__ import annotations

from datetime import datetime

from stepline.engine.interpreter import Execution
from stepline.engine.threads import Group, Thread
from stepline.engine.program import Program
from stepline.jsonvalue import JSON

_THREAD_FIELDS = ("index", "variables", "input", "entered_id", "entered_time", "last_event", "attempts", "retry_count",
                  "token", "waiting", "effective", "recorded", "finished", "task_token", "map_run")
_GROUP_FIELDS = ("kind", "results", "next_index", "failures", "done", "max_concurrency", "tolerated_count",
                 "tolerated_percentage", "distributed")


def checkpoint(execution: Execution) -> dict[str, JSON]:
    """The execution's position as JSON (no events)."""
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
        "threads": [_thread(t, retained) for t, retained in _walk(execution.threads[""], False)]
        if "" in execution.threads else [],
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


def _thread(t: Thread, retained: bool) -> dict[str, JSON]:
    record = {field: getattr(t, field) for field in _THREAD_FIELDS}
    record["key"] = t.key
    record["machine"] = t.machine.at
    record["state"] = t.state.name
    record["parent"] = t.parent.owner.key if t.parent is not None else None
    record["failed_events"] = list(t.failed_events)
    record["retained"] = retained
    group = t.group or t.failed_group
    if group is not None:
        record["group"] = {field: getattr(group, field) for field in _GROUP_FIELDS}
        record["group"]["failed"] = t.failed_group is not None
        record["group"]["running"] = sorted(group.running)
        # a Map's inputs are its items; a Parallel gives every branch the same input
        record["group"]["items"] = group.items if group.kind == "Map" else group.inputs[:1]
        record["group"]["size"] = len(group.inputs)
    return record


def restore(program: Program, document: JSON, **identity: object) -> Execution:
    """An Execution in the position `document` records; `identity` are the Execution constructor's arguments."""
    execution = Execution(program, **identity)  # type: ignore[arg-type]
    execution.status = document["status"]
    execution.output = document["output"]
    execution.output_text = document["output_text"]
    execution.error = document["error"]
    execution.cause = document["cause"]
    execution.stop_time = datetime.fromisoformat(document["stop_time"]) if document["stop_time"] else None
    execution.event_count = document["event_count"]
    execution.invocations.update(document["invocations"])
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
            items = spec["items"]
            inputs = items if spec["kind"] == "Map" else items * spec["size"]
            group = Group(t, spec["kind"], inputs, items=items if spec["kind"] == "Map" else None)
            for field in _GROUP_FIELDS:
                setattr(group, field, spec[field])
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
