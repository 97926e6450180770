"""Crash test of a large inline Map: `stepline serve` is SIGKILLed twice while a Map over 1,000 items runs (its items
and results are rows apart from the checkpoint: engine/checkpoint.py), on SQLite and PostgreSQL. The restarted
server resumes the Map from its last commit: every iteration runs to its end once in the history, and the output is
that of a run without crashes."""

from __future__ import annotations

import json
import time
from collections import Counter
from pathlib import Path
from typing import Any

from serving import ROLE, StepLine, finished
from support import lambda_task

from .conftest import Backend

ITEMS = 1000
DEFINITION = {"StartAt": "Spread", "States": {
    "Spread": {"Type": "Pass", "Parameters": {"items.$": f"States.ArrayRange(1, {ITEMS}, 1)"}, "Next": "Each"},
    "Each": {"Type": "Map", "ItemsPath": "$.items", "MaxConcurrency": 20, "ResultPath": "$.results", "End": True,
             "ItemSelector": {"value.$": "$$.Map.Item.Value"},
             "ItemProcessor": {"StartAt": "Work", "States": {"Work": lambda_task("add_one", End=True)}}}}}


def last_event(sfn: Any, arn: str) -> dict:
    events = sfn.get_execution_history(executionArn=arn, reverseOrder=True, maxResults=1)["events"]
    return events[0] if events else {"id": 0, "type": None}  # a start not committed yet


def test_a_map_over_1000_items_resumes_after_sigkills_with_the_same_result(backend: Backend, tmp_path: Path) -> None:
    server = StepLine.start(backend.location, functions=["durable_functions"],  # type: ignore[arg-type]
                            options=["--worker-name", "map-crash"], log=tmp_path / "server.log")
    try:
        sfn = server.client()
        machine = sfn.create_state_machine(name="map", definition=json.dumps(DEFINITION), roleArn=ROLE)
        arn = sfn.start_execution(stateMachineArn=machine["stateMachineArn"], name="big")["executionArn"]
        for threshold in (1500, 4000):  # of about 7,000 events: the kills land inside the Map
            deadline = time.monotonic() + 60
            while (last := last_event(sfn, arn))["id"] < threshold and time.monotonic() < deadline:
                time.sleep(0.02)
            assert last["type"] != "ExecutionSucceeded", "the Map ended before the kill"
            server.kill()
            server = server.restart()
            sfn = server.client()
        described = finished(sfn, arn, timeout=120)
        assert described["status"] == "SUCCEEDED", described
        assert json.loads(described["output"])["results"] == [{"value": i + 1} for i in range(1, ITEMS + 1)]
        events = []
        for page in sfn.get_paginator("get_execution_history").paginate(executionArn=arn, maxResults=1000):
            events += page["events"]
        assert [e["id"] for e in events] == list(range(1, len(events) + 1))
        kinds = Counter(e["type"] for e in events)
        started = Counter(e["mapIterationStartedEventDetails"]["index"] for e in events
                          if e["type"] == "MapIterationStarted")
        assert started == Counter(range(ITEMS)), "an iteration started twice or never"
        assert kinds["MapIterationSucceeded"] == kinds["LambdaFunctionSucceeded"] == ITEMS, kinds
    except Exception:
        print(f"server log:\n{server.log.read_text()[-4000:]}")
        raise
    finally:
        server.stop()
