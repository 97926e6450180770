"""Checkpoints of a running Map: its items and results are rows written once (engine/checkpoint.py), the document
keeps its counters and running iterations; restored from both, the execution goes on to the same result."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Any

from stepline.engine.checkpoint import HEAD, Iterations, checkpoint, map_key, restore
from stepline.engine.effects import InvokeTask
from stepline.engine.interpreter import Execution
from stepline.engine.program import compile_definition

NOW = datetime(2026, 1, 1, tzinfo=timezone.utc)
DEFINITION = {"StartAt": "Each", "States": {"Each": {
    "Type": "Map", "ItemsPath": "$.items", "MaxConcurrency": 3, "End": True,
    "ItemProcessor": {"StartAt": "Work", "States": {"Work": {
        "Type": "Task", "Resource": "arn:aws:lambda:us-east-1:123456789012:function:f", "End": True}}}}}}
PROGRAM = compile_definition(json.dumps(DEFINITION), "STANDARD")
IDENTITY: dict[str, Any] = {"input": {"items": list(range(10))}, "execution_arn": "arn:e", "name": "e",
                            "state_machine_arn": "arn:m", "state_machine_name": "m", "role_arn": "arn:r",
                            "start_time": NOW}


def answer(execution: Execution, tasks: list[InvokeTask], count: int) -> list[InvokeTask]:
    """Answer the first `count` tasks (the item doubled); the tasks waiting after that."""
    for _ in range(count):
        task, tasks = tasks[0], tasks[1:]
        tasks += [e for e in execution.task_succeeded(task.thread, task.token, task.parameters * 2, NOW)
                  if isinstance(e, InvokeTask)]
    return tasks


def rows_by_map(rows: Iterations) -> dict[str, dict[int, Any]]:
    found: dict[str, dict[int, Any]] = {}
    for map, index, value in rows:
        found.setdefault(map, {})[index] = json.loads(json.dumps(value))
    return found


def test_each_result_is_written_once_and_a_restored_map_ends_as_it_would_have() -> None:
    execution = Execution(PROGRAM, **IDENTITY)
    tasks = [e for e in execution.start(NOW) if isinstance(e, InvokeTask)]
    written: Iterations = []
    first = checkpoint(execution, written)
    key = map_key(execution.threads[""])
    assert first["maps"] == [key] and [(m, i) for m, i, _ in written] == [(key, HEAD)]
    owner = first["threads"][0]
    assert owner["input"] is None and owner["group"]["items"] is None and owner["group"]["results"] is None
    tasks = answer(execution, tasks, 4)
    rows: Iterations = []
    second = checkpoint(execution, rows)
    assert sorted(i for _, i, _ in rows) == [0, 1, 2, 3]  # only what ended since: not the items again
    assert second["threads"][0]["group"]["done"] == 4 and len(second["threads"]) == 1 + 3  # the running ones
    written += rows
    restored = restore(PROGRAM, json.loads(json.dumps(second)), rows_by_map(written), **IDENTITY)
    for task in tasks:  # the restored execution waits for the same tasks
        assert restored.awaits_task(task.thread, task.token)
    assert restored.stored_maps == [key]
    while tasks:
        tasks = answer(restored, tasks, 1)
    assert restored.status == "SUCCEEDED" and restored.output == [i * 2 for i in range(10)]
    assert checkpoint(restored, [])["maps"] == restored.stored_maps == []  # its rows are needed no more


def test_a_checkpoint_written_with_its_items_inside_is_split_at_its_next_commit() -> None:
    execution = Execution(PROGRAM, **IDENTITY)
    tasks = answer(execution, [e for e in execution.start(NOW) if isinstance(e, InvokeTask)], 5)
    whole = json.loads(json.dumps(checkpoint(execution)))  # as stepline wrote checkpoints before schema 5
    restored = restore(PROGRAM, whole, **IDENTITY)
    rows: Iterations = []
    split = checkpoint(restored, rows)
    assert sorted(i for _, i, _ in rows) == [HEAD, 0, 1, 2, 3, 4]
    again = restore(PROGRAM, json.loads(json.dumps(split)), rows_by_map(rows), **IDENTITY)
    while tasks:
        tasks = answer(again, tasks, 1)
    assert again.status == "SUCCEEDED" and again.output == [i * 2 for i in range(10)]
