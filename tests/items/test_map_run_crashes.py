"""A Map Run across crashes: SIGKILLs of `stepline serve` while 1,000 STANDARD children run (SQLite), and the kill
of the worker that drives a Map Run while another PostgreSQL worker shares it. Every child runs to its end exactly
once (one execution per item, each history gap-free with one start and one end), and the parent's results and
counts match."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from serving import ROLE, StepLine, finished, history, types
from support import fresh_schema

ITEMS = 1000


def definition(items_wait: int) -> str:
    return json.dumps({"StartAt": "Each", "States": {"Each": {
        "Type": "Map", "ItemsPath": "$.items", "End": True,
        "ItemSelector": {"n.$": "$$.Map.Item.Value"},
        "ItemProcessor": {"ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"},
                          "StartAt": "Nap", "States": {
                              "Nap": {"Type": "Wait", "Seconds": items_wait, "Next": "Double"},
                              "Double": {"Type": "Pass", "Parameters": {"n.$": "States.MathAdd($.n, $.n)"},
                                         "End": True}}}}}})


def map_run(sfn: Any, execution: str, timeout: float = 20) -> str:
    deadline = time.monotonic() + timeout
    while not (runs := sfn.list_map_runs(executionArn=execution)["mapRuns"]):
        assert time.monotonic() < deadline, "no Map Run started"
        time.sleep(0.05)
    return str(runs[0]["mapRunArn"])


def children(sfn: Any, run: str) -> list[dict]:
    listed: list[dict] = []
    token = None
    while True:
        page = sfn.list_executions(mapRunArn=run, maxResults=1000, **({"nextToken": token} if token else {}))
        listed += page["executions"]
        token = page.get("nextToken")
        if token is None:
            return listed


def wait_for_children(sfn: Any, run: str, count: int, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while len(children(sfn, run)) < count:
        assert time.monotonic() < deadline, f"fewer than {count} children started"
        time.sleep(0.05)


def check(sfn: Any, execution: str, run: str, items: int) -> None:
    done = finished(sfn, execution, timeout=90)
    assert done["status"] == "SUCCEEDED", done
    assert json.loads(done["output"]) == [{"n": 2 * n} for n in range(items)]
    listed = children(sfn, run)
    assert len(listed) == items and len({c["name"] for c in listed}) == items
    assert {c["status"] for c in listed} == {"SUCCEEDED"}
    for child in listed:
        kinds = types(history(sfn, child["executionArn"]))
        assert kinds.count("ExecutionStarted") == kinds.count("ExecutionSucceeded") == 1, kinds
    described = sfn.describe_map_run(mapRunArn=run)
    assert described["status"] == "SUCCEEDED"
    assert (described["executionCounts"]["succeeded"], described["executionCounts"]["total"]) == (items, items)
    assert (described["itemCounts"]["succeeded"], described["itemCounts"]["total"]) == (items, items)
    parent = types(history(sfn, execution))
    assert parent.count("MapRunStarted") == parent.count("MapRunSucceeded") == 1


def test_a_thousand_standard_children_across_sigkills(tmp_path: Path) -> None:
    server = StepLine.start(tmp_path / "store.db")
    try:
        sfn = server.client()
        machine = sfn.create_state_machine(name="fan", definition=definition(1), roleArn=ROLE)["stateMachineArn"]
        execution = sfn.start_execution(stateMachineArn=machine,
                                        input=json.dumps({"items": list(range(ITEMS))}))["executionArn"]
        run = map_run(sfn, execution)
        for started in (200, 600):  # killed while children are being started and run, twice
            wait_for_children(sfn, run, started)
            server.kill()
            server = server.restart()
            sfn = server.client()
        check(sfn, execution, run, ITEMS)
    finally:
        server.stop()


@pytest.fixture
def database(postgres_url: str) -> Iterator[str]:
    with fresh_schema(postgres_url, "maprun") as (location, _):
        yield location


def test_two_postgres_workers_share_a_map_run_when_its_driver_dies(database: str, tmp_path: Path) -> None:
    options = ["--lease-seconds", "2", "--poll-seconds", "0.3"]
    first = StepLine.start(database, options=[*options, "--worker-name", "first"], log=tmp_path / "first.log")
    second = StepLine.start(database, options=[*options, "--worker-name", "second"], log=tmp_path / "second.log")
    items = 200
    try:
        sfn = first.client()
        machine = sfn.create_state_machine(name="fan", definition=definition(2), roleArn=ROLE)["stateMachineArn"]
        execution = sfn.start_execution(stateMachineArn=machine,
                                        input=json.dumps({"items": list(range(items))}))["executionArn"]
        run = map_run(sfn, execution)
        wait_for_children(sfn, run, 50)
        first.kill()  # the worker driving the run and holding its children: the second takes them all over
        check(second.client(), execution, run, items)
    finally:
        first.stop()
        second.stop()
