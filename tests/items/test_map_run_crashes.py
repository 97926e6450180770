"""A Map Run across crashes and workers: SIGKILLs of `stepline serve` while 1,000 STANDARD children run (SQLite),
two PostgreSQL workers running one Map Run's children between them (stopping and redriving them), the kill
of the worker that drives a Map Run while another shares it, and the kill of a worker that runs some of its
children but not the run. Every child runs to its end exactly once (one
execution per item, each history gap-free with one start and one end), and the parent's results and counts match."""

from __future__ import annotations

import json
import re
from collections import Counter
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psycopg
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


def check(sfn: Any, execution: str, run: str, items: int, output: list | None = None) -> None:
    done = finished(sfn, execution, timeout=90)
    assert done["status"] == "SUCCEEDED", done
    assert json.loads(done["output"]) == (output or [{"n": 2 * n} for n in range(items)])
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


@pytest.mark.parametrize("store", ["sqlite", "postgres"])
def test_express_children_that_ended_before_a_sigkill_are_kept(store: str, request: pytest.FixtureRequest,
                                                               tmp_path: Path) -> None:
    """EXPRESS children live in memory, how each ended is in the store too: after a SIGKILL the run keeps the
    children that had ended (not run again, counted and given once) and starts again the ones that were running."""
    calls = tmp_path / "calls"
    calls.touch()
    location = tmp_path / "store.db" if store == "sqlite" else request.getfixturevalue("database")
    server = StepLine.start(location, functions=["durable_functions"], options=["--lease-seconds", "2"],
                            environment={"COUNTED_CALLS": str(calls)}, log=tmp_path / "server.log")
    items, concurrency = 40, 4
    doubling = json.dumps({"StartAt": "Each", "States": {"Each": {
        "Type": "Map", "ItemsPath": "$.items", "MaxConcurrency": concurrency, "End": True,
        "ItemSelector": {"n.$": "$$.Map.Item.Value"},
        "ItemProcessor": {"ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "EXPRESS"},
                          "StartAt": "Double", "States": {"Double": {
                              "Type": "Task", "End": True,
                              "Resource": "arn:aws:lambda:us-east-1:123456789012:function:counted_double"}}}}}})
    try:
        sfn = server.client()
        machine = sfn.create_state_machine(name="fan", definition=doubling, roleArn=ROLE)["stateMachineArn"]
        execution = sfn.start_execution(stateMachineArn=machine,
                                        input=json.dumps({"items": list(range(items))}))["executionArn"]
        deadline = time.monotonic() + 20
        while len(calls.read_text().split()) < 12:
            assert time.monotonic() < deadline, "too few children ran"
            time.sleep(0.02)
        server.kill()
        before = calls.read_text().split()
        assert len(before) < items - concurrency, before  # killed while the run had children to start
        server = server.restart()
        sfn = server.client()
        done = finished(sfn, execution, timeout=30)
        assert done["status"] == "SUCCEEDED", done
        assert json.loads(done["output"]) == [{"n": 2 * n} for n in range(items)]
        ran = Counter(int(n) for n in calls.read_text().split())
        assert set(ran) == set(range(items)) and max(ran.values()) <= 2, ran
        # only the children without a row in the store (running, or ended a moment before) ran again
        assert sum(1 for count in ran.values() if count == 2) <= concurrency, ran
        described = sfn.describe_map_run(mapRunArn=map_run(sfn, execution))
        assert described["status"] == "SUCCEEDED"
        assert (described["executionCounts"]["succeeded"], described["executionCounts"]["total"]) == (items, items)
        assert (described["itemCounts"]["succeeded"], described["itemCounts"]["total"]) == (items, items)
        parent = types(history(sfn, execution))
        assert parent.count("MapRunStarted") == parent.count("MapRunSucceeded") == 1
    finally:
        server.stop()


@pytest.mark.parametrize("store", ["sqlite", "postgres"])
def test_a_redrive_of_express_children_cut_by_a_sigkill_reruns_the_failures_it_had_not_rerun(
        store: str, request: pytest.FixtureRequest, tmp_path: Path) -> None:
    """Every item fails once, then the parent is redriven and killed while its Map Run reruns the failures two at a
    time: after the restart each failure is rerun (those rerun before the kill kept), none is taken as final."""
    calls = tmp_path / "calls"
    calls.touch()
    location = tmp_path / "store.db" if store == "sqlite" else request.getfixturevalue("database")
    server = StepLine.start(location, functions=["durable_functions"], options=["--lease-seconds", "2"],
                            environment={"COUNTED_CALLS": str(calls)}, log=tmp_path / "server.log")
    items, concurrency = 20, 2
    failing_once = json.dumps({"StartAt": "Each", "States": {"Each": {
        "Type": "Map", "ItemsPath": "$.items", "MaxConcurrency": concurrency, "End": True,
        "ToleratedFailureCount": items - 1, "ItemSelector": {"n.$": "$$.Map.Item.Value"},
        "ItemProcessor": {"ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "EXPRESS"},
                          "StartAt": "Double", "States": {"Double": {
                              "Type": "Task", "End": True,
                              "Resource": "arn:aws:lambda:us-east-1:123456789012:function:fail_first_double"}}}}}})
    try:
        sfn = server.client()
        machine = sfn.create_state_machine(name="fan", definition=failing_once, roleArn=ROLE)["stateMachineArn"]
        execution = sfn.start_execution(stateMachineArn=machine,
                                        input=json.dumps({"items": list(range(items))}))["executionArn"]
        assert finished(sfn, execution, timeout=30)["status"] == "FAILED"  # every item failed once
        sfn.redrive_execution(executionArn=execution)
        deadline = time.monotonic() + 20
        while len(calls.read_text().split()) < items + 6:
            assert time.monotonic() < deadline, "too few children ran again"
            time.sleep(0.02)
        server.kill()
        assert len(calls.read_text().split()) < 2 * items - concurrency  # killed with failures still to rerun
        server = server.restart()
        sfn = server.client()
        done = finished(sfn, execution, timeout=30)
        assert done["status"] == "SUCCEEDED", done
        assert json.loads(done["output"]) == [{"n": 2 * n} for n in range(items)]
        ran = Counter(int(n) for n in calls.read_text().split())
        assert set(ran) == set(range(items)) and min(ran.values()) >= 2 and max(ran.values()) <= 3, ran
        assert sum(1 for count in ran.values() if count == 3) <= concurrency, ran
        described = sfn.describe_map_run(mapRunArn=map_run(sfn, execution))
        assert (described["status"], described["redriveCount"]) == ("SUCCEEDED", 1)
        assert described["executionCounts"] == {
            "pending": 0, "running": 0, "succeeded": items, "failed": 0, "timedOut": 0, "aborted": 0,
            "total": items, "resultsWritten": items, "failuresNotRedrivable": 0, "pendingRedrive": 0}
    finally:
        server.stop()


@pytest.fixture
def database(postgres_url: str) -> Iterator[str]:
    with fresh_schema(postgres_url, "maprun") as (location, _):
        yield location


@contextmanager
def two_workers(database: str, tmp_path: Path, *options: str) -> Iterator[tuple[StepLine, StepLine]]:
    """Two `stepline serve` workers named first and second on one PostgreSQL database, stopped at the end."""
    first = StepLine.start(database, options=[*options, "--worker-name", "first"], log=tmp_path / "first.log")
    second = StepLine.start(database, options=[*options, "--worker-name", "second"], log=tmp_path / "second.log")
    try:
        yield first, second
    finally:
        first.stop()
        second.stop()


def test_two_postgres_workers_share_a_map_run_when_its_driver_dies(database: str, tmp_path: Path) -> None:
    items = 200
    with two_workers(database, tmp_path, "--lease-seconds", "2", "--poll-seconds", "0.3") as (first, second):
        sfn = first.client()
        machine = sfn.create_state_machine(name="fan", definition=definition(2), roleArn=ROLE)["stateMachineArn"]
        execution = sfn.start_execution(stateMachineArn=machine,
                                        input=json.dumps({"items": list(range(items))}))["executionArn"]
        run = map_run(sfn, execution)
        wait_for_children(sfn, run, 50)
        first.kill()  # the worker driving the run and holding its children: the second takes them all over
        check(second.client(), execution, run, items)


def finished_here(server: StepLine, machine: str) -> int:
    """The executions of `machine` (its Map Runs' children included) that ended on this worker, by its metrics."""
    with urllib.request.urlopen(f"{server.url}/metrics", timeout=10) as response:
        text = response.read().decode()
    pattern = rf'^stepline_executions_finished_total{{[^}}]*state_machine="{machine}"[^}}]*}} (\S+)$'
    return int(sum(float(value) for value in re.findall(pattern, text, re.MULTILINE)))


def test_two_postgres_workers_run_a_map_runs_children_between_them(database: str, tmp_path: Path) -> None:
    items = 200
    with two_workers(database, tmp_path, "--poll-seconds", "0.3") as (first, second):
        sfn = first.client()
        machine = sfn.create_state_machine(name="fan", definition=definition(1), roleArn=ROLE)["stateMachineArn"]
        execution = sfn.start_execution(stateMachineArn=machine,
                                        input=json.dumps({"items": list(range(items))}))["executionArn"]
        run = map_run(sfn, execution)
        check(sfn, execution, run, items)
        ran = [finished_here(server, "fan") for server in (first, second)]
        assert sum(ran) == items + 1, ran  # each child and the parent ended once, on one worker
        assert min(ran) >= items // 10, ran  # the worker that drives the run is not the only one running children


def test_stopping_the_parent_stops_its_children_on_every_postgres_worker(database: str, tmp_path: Path) -> None:
    items = 100
    with two_workers(database, tmp_path, "--poll-seconds", "0.3") as (first, second):
        sfn = first.client()
        machine = sfn.create_state_machine(name="fan", definition=definition(120), roleArn=ROLE)["stateMachineArn"]
        execution = sfn.start_execution(stateMachineArn=machine,
                                        input=json.dumps({"items": list(range(items))}))["executionArn"]
        run = map_run(sfn, execution)
        wait_for_children(sfn, run, items)
        sfn.stop_execution(executionArn=execution, error="Enough")
        deadline = time.monotonic() + 20
        while {child["status"] for child in children(sfn, run)} != {"ABORTED"}:
            assert time.monotonic() < deadline, "children still running"
            time.sleep(0.1)
        described = sfn.describe_map_run(mapRunArn=run)
        assert described["status"] == "ABORTED"
        assert (described["executionCounts"]["aborted"], described["executionCounts"]["total"]) == (items, items)
        for child in children(sfn, run):
            kinds = types(history(sfn, child["executionArn"]))
            assert kinds.count("ExecutionStarted") == kinds.count("ExecutionAborted") == 1, kinds
        ran = [finished_here(server, "fan") for server in (first, second)]
        assert sum(ran) == items + 1 and min(ran) >= items // 10, ran  # the children were stopped where they ran


def test_children_ending_on_another_postgres_worker_are_counted_at_once(database: str, tmp_path: Path) -> None:
    """With a polling interval of 60 s, 60 children five at a time would take 12 minutes or more if the run
    learnt of the ends on the other worker by looking: their worker announces them."""
    items = 60
    with two_workers(database, tmp_path, "--poll-seconds", "60") as (first, second):
        sfn = first.client()
        definition = {"StartAt": "Each", "States": {"Each": {
            "Type": "Map", "ItemsPath": "$.items", "MaxConcurrency": 5, "End": True,
            "ItemProcessor": {"ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"},
                              "StartAt": "Echo", "States": {"Echo": {"Type": "Pass", "End": True}}}}}}
        machine = sfn.create_state_machine(name="fan", definition=json.dumps(definition),
                                           roleArn=ROLE)["stateMachineArn"]
        execution = sfn.start_execution(stateMachineArn=machine,
                                        input=json.dumps({"items": list(range(items))}))["executionArn"]
        done = finished(sfn, execution, timeout=60)
        assert done["status"] == "SUCCEEDED" and json.loads(done["output"]) == list(range(items)), done
        ran = [finished_here(server, "fan") for server in (first, second)]
        assert sum(ran) == items + 1 and min(ran) > 0, ran


def test_redriving_a_parent_redrives_its_children_on_two_postgres_workers(database: str, tmp_path: Path) -> None:
    items = 100
    with two_workers(database, tmp_path, "--poll-seconds", "0.3") as (first, second):
        sfn = first.client()
        definition = {"StartAt": "Each", "States": {"Each": {
            "Type": "Map", "ItemsPath": "$.items", "End": True,
            "ItemProcessor": {"ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"},
                              "StartAt": "Check", "States": {"Check": {  # odd items fail until redriven
                                  "Type": "Pass", "QueryLanguage": "JSONata", "End": True,
                                  "Output": "{% ($states.context.Execution.RedriveCount = 0 and $states.input % 2 = 1)"
                                            " ? $error('an odd item') : $states.input %}"}}}}}}
        machine = sfn.create_state_machine(name="strict", definition=json.dumps(definition),
                                           roleArn=ROLE)["stateMachineArn"]
        execution = sfn.start_execution(stateMachineArn=machine,
                                        input=json.dumps({"items": list(range(items))}))["executionArn"]
        assert finished(sfn, execution, timeout=30)["status"] == "FAILED"  # no failure tolerated
        run = map_run(sfn, execution)
        second.client().redrive_execution(executionArn=execution)
        done = finished(sfn, execution, timeout=30)
        assert done["status"] == "SUCCEEDED" and json.loads(done["output"]) == list(range(items)), done
        listed = children(sfn, run)
        assert len(listed) == items and {child["status"] for child in listed} == {"SUCCEEDED"}
        described = sfn.describe_map_run(mapRunArn=run)
        assert (described["status"], described["redriveCount"]) == ("SUCCEEDED", 1)
        assert (described["executionCounts"]["succeeded"], described["itemCounts"]["succeeded"]) == (items, items)
        assert min(finished_here(server, "strict") for server in (first, second)) > 0


def test_killing_a_postgres_worker_that_runs_children_but_not_the_run(database: str, postgres_url: str,
                                                                      tmp_path: Path) -> None:
    """The worker that dies holds some of the run's STANDARD children (each in a 1 s function call), not their
    parent: the other worker, which drives the run, takes them over once their leases expire; each child runs to
    its end once (a call cut short runs again, as a Task does after a crash) and is counted once."""
    options = ["--lease-seconds", "2", "--poll-seconds", "0.3"]
    workers = {name: StepLine.start(database, functions=["multiworker_functions"],
                                    options=[*options, "--worker-name", name], log=tmp_path / f"{name}.log")
               for name in ("first", "second")}
    schema = database.rsplit("schema=", 1)[1]
    items = 60
    napping = json.dumps({"StartAt": "Each", "States": {"Each": {
        "Type": "Map", "ItemsPath": "$.items", "End": True,
        "ItemSelector": {"value.$": "$$.Map.Item.Value", "nap": 1},
        "ItemProcessor": {"ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"},
                          "StartAt": "Work", "States": {"Work": {
                              "Type": "Task", "End": True,
                              "Resource": "arn:aws:lambda:us-east-1:123456789012:function:nap_add_one"}}}}}})
    try:
        sfn = workers["first"].client()
        machine = sfn.create_state_machine(name="fan", definition=napping, roleArn=ROLE)["stateMachineArn"]
        execution = sfn.start_execution(stateMachineArn=machine,
                                        input=json.dumps({"items": list(range(items))}))["executionArn"]
        run = map_run(sfn, execution)
        with psycopg.connect(postgres_url, autocommit=True) as connection:
            driver = owner_of(connection, schema, execution)
            [other] = [name for name in workers if name != driver]
            deadline = time.monotonic() + 20
            while (held := running_children_held_by(connection, schema, run, other)) < 5:
                assert time.monotonic() < deadline, f"{other} holds {held} children"
                time.sleep(0.02)
        workers[other].kill()  # in the middle of its children's calls: the driver takes them over
        check(workers[driver].client(), execution, run, items,
              [{"value": n + 1, "nap": 1} for n in range(items)])
    finally:
        for worker in workers.values():
            worker.stop()


def owner_of(connection: psycopg.Connection, schema: str, arn: str) -> str:
    """The worker holding an execution's lease (its name, as `--worker-name` gave it)."""
    row = connection.execute(f"SELECT lease_owner FROM {schema}.executions WHERE arn = %s", (arn,)).fetchone()
    assert row is not None and row[0], row
    return str(row[0])


def running_children_held_by(connection: psycopg.Connection, schema: str, run: str, worker: str) -> int:
    row = connection.execute(f"SELECT count(*) FROM {schema}.executions WHERE map_run_arn = %s AND status = "
                             "'RUNNING' AND lease_owner = %s", (run, worker)).fetchone()
    return int(row[0]) if row else 0
