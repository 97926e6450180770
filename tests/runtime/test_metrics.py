"""`GET /metrics` read back with prometheus_client's parser and checked against the executions the test ran: on
SQLite (one server, restarted: the RUNNING gauge comes from the store) and on PostgreSQL with two workers (the
counters of the two servers add up to what ran; each reports the store's RUNNING executions)."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from serving import ROLE, StepLine, finished, history, types
from support import fresh_schema

FUNCTION = "arn:aws:lambda:us-east-1:123456789012:function:add_one"
FAST = ["--lease-seconds", "3", "--poll-seconds", "0.2"]
COUNTED = {"StartAt": "Add", "States": {
    "Add": {"Type": "Task", "Resource": FUNCTION, "Next": "Nap"},
    "Nap": {"Type": "Wait", "Seconds": 1, "Next": "Done"},
    "Done": {"Type": "Pass", "End": True}}}
FAILING = {"StartAt": "Boom", "States": {"Boom": {"Type": "Fail", "Error": "Boom"}}}
HELD = {"StartAt": "Hold", "States": {"Hold": {"Type": "Wait", "Seconds": 3600, "End": True}}}

Samples = list[tuple[str, dict[str, str], float]]


def scrape(server: StepLine) -> Samples:
    with urllib.request.urlopen(f"{server.url}/metrics", timeout=10) as response:
        assert response.headers["content-type"].startswith("text/plain")
        text = response.read().decode()
    return [(sample.name, sample.labels, sample.value)
            for family in text_string_to_metric_families(text) for sample in family.samples]


def total(samples: Samples, name: str, **labels: str) -> float:
    return sum(value for sample_name, sample_labels, value in samples
               if sample_name == name and labels.items() <= sample_labels.items())


def eventually(check: Callable[[], None], timeout: float = 5) -> None:
    """The figures are counted just after the commit a client may see first: look again for a moment."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            check()
            return
        except AssertionError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def run_workload(clients: list[Any]) -> tuple[str, int]:
    """3 executions that succeed (a Lambda task, a 1 s Wait), 2 that fail, 1 held by an hour's Wait, started
    round-robin on the clients' servers; the held one's ARN and the states entered by all of them."""
    machines = {name: clients[0].create_state_machine(name=name, definition=json.dumps(definition),
                                                      roleArn=ROLE)["stateMachineArn"]
                for name, definition in (("counted", COUNTED), ("failing", FAILING), ("held", HELD))}
    started = [clients[number % len(clients)].start_execution(stateMachineArn=machines[name],
                                                              input='{"value": 1}')["executionArn"]
               for number, name in enumerate(["counted"] * 3 + ["failing"] * 2 + ["held"])]
    statuses = [finished(clients[0], arn)["status"] for arn in started[:5]]
    assert statuses == ["SUCCEEDED"] * 3 + ["FAILED"] * 2
    held = started[5]

    def waiting() -> None:
        assert types(history(clients[0], held)) == ["ExecutionStarted", "WaitStateEntered"]
    eventually(waiting)
    entered = sum(kind.endswith("StateEntered") for arn in started for kind in types(history(clients[0], arn)))
    return held, entered


def check_counts(servers: list[StepLine], entered: int) -> None:
    def check() -> None:
        scrapes = [scrape(server) for server in servers]
        every: Samples = [sample for samples in scrapes for sample in samples]
        assert {name: total(every, "stepline_executions_started_total", state_machine=name)
                for name in ("counted", "failing", "held")} == {"counted": 3, "failing": 2, "held": 1}
        assert total(every, "stepline_executions_finished_total", state_machine="counted", status="SUCCEEDED") == 3
        assert total(every, "stepline_executions_finished_total", state_machine="failing", status="FAILED") == 2
        assert total(every, "stepline_executions_finished_total") == 5
        assert total(every, "stepline_state_transitions_total") == entered
        assert total(every, "stepline_task_duration_seconds_count", integration="lambda") == 3
        assert total(every, "stepline_task_duration_seconds_count") == 3
        assert total(every, "stepline_timer_lag_seconds_count") == 3  # the three 1 s Waits
        assert total(every, "stepline_timer_lag_seconds_bucket", le="+Inf") == 3
        assert total(every, "stepline_store_commit_seconds_count") > 0
        assert total(every, "stepline_http_requests_total", action="StartExecution", status="200") == 6
        assert total(every, "stepline_http_request_duration_seconds_count", action="CreateStateMachine") == 3
        for samples in scrapes:  # the store's figure, on every worker
            assert total(samples, "stepline_executions_running") == 1
            assert [labels["worker"] for name, labels, _ in samples if name == "stepline_worker_leases"]
    eventually(check)


def check_stopped(client: Any, servers: list[StepLine], held: str) -> None:
    client.stop_execution(executionArn=held)
    assert finished(client, held)["status"] == "ABORTED"

    def check() -> None:
        scrapes = [scrape(server) for server in servers]
        every = [sample for samples in scrapes for sample in samples]
        assert total(every, "stepline_executions_finished_total", state_machine="held", status="ABORTED") == 1
        for samples in scrapes:
            assert total(samples, "stepline_executions_running") == 0
    eventually(check)


def test_metrics_count_what_ran_on_sqlite_across_a_restart(tmp_path: Path) -> None:
    server = StepLine.start(tmp_path / "stepline.db", functions=["multiworker_functions"], options=FAST)
    try:
        client = server.client()
        held, entered = run_workload([client])
        check_counts([server], entered)
        quick = client.create_state_machine(name="quick", type="EXPRESS", roleArn=ROLE, definition=json.dumps(
            {"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}}))["stateMachineArn"]
        assert client.start_sync_execution(stateMachineArn=quick)["status"] == "SUCCEEDED"  # Express: in memory
        samples = scrape(server)
        assert total(samples, "stepline_executions_started_total", state_machine="quick") == 1
        assert total(samples, "stepline_executions_finished_total", state_machine="quick", status="SUCCEEDED") == 1
        assert total(samples, "stepline_state_transitions_total") == entered + 1
        assert total(samples, "stepline_http_requests_total", action="GET /metrics", status="200") >= 1
        for request in (urllib.request.Request(f"{server.url}/no-such-page"),
                        urllib.request.Request(f"{server.url}/console/static/app.js", method="DELETE"),
                        urllib.request.Request(f"{server.url}/", data=b"{}", headers={
                            "x-amz-target": "AWSStepFunctions.NoSuchAction",
                            "content-type": "application/x-amz-json-1.0"})):
            with pytest.raises(urllib.error.HTTPError):
                urllib.request.urlopen(request, timeout=10)
        urllib.request.urlopen(f"{server.url}/console/static/app.js", timeout=10).read()

        def by_action() -> None:  # a file is counted once sent, which may be just after the client has it
            assert {(labels["action"], labels["status"]) for name, labels, _ in scrape(server)
                    if name == "stepline_http_requests_total"} >= {
                ("unknown", "404"), ("unknown", "405"), ("unknown", "400"), ("GET /console/static", "200")}
        eventually(by_action)
        assert {labels["worker"] for name, labels, _ in samples if name == "stepline_worker_leases"} != set()
        server.stop()
        server = server.restart()
        samples = scrape(server)
        assert total(samples, "stepline_executions_started_total") == 0  # counters are this process's
        assert total(samples, "stepline_executions_running") == 1  # the store's: the held execution
        check_stopped(server.client(), [server], held)
    finally:
        server.stop()


@pytest.fixture
def two(postgres_url: str, tmp_path: Path) -> Iterator[list[StepLine]]:
    with fresh_schema(postgres_url, "metrics") as (location, _):
        running = [StepLine.start(location, functions=["multiworker_functions"],  # type: ignore[arg-type]
                                  options=[*FAST, "--worker-name", f"server-{number}"],
                                  log=tmp_path / f"server-{number}.log") for number in range(2)]
        try:
            yield running
        finally:
            for server in running:
                server.stop()


def test_metrics_of_two_postgres_workers_add_up_to_what_ran(two: list[StepLine]) -> None:
    held, entered = run_workload([server.client() for server in two])
    check_counts(two, entered)
    leases = {labels["worker"]: value for server in two for name, labels, value in scrape(server)
              if name == "stepline_worker_leases"}
    assert set(leases) == {"server-0", "server-1"}
    assert sum(leases.values()) <= 1  # only the held execution may be held (a waiting one is parked)
    check_stopped(two[1].client(), two, held)


@pytest.mark.parametrize(("q", "cumulative", "expected"), [
    pytest.param(0.5, [], None, id="nothing-counted"),
    pytest.param(0.5, [(1.0, 0), (float("inf"), 0)], None, id="zero-counts"),
    pytest.param(0.5, [(0.1, 2), (1.0, 4), (float("inf"), 4)], 0.1, id="at-a-bound"),
    pytest.param(0.75, [(0.1, 2), (1.0, 4), (float("inf"), 4)], 0.55, id="interpolated-in-its-bucket"),
    pytest.param(0.95, [(0.1, 1), (1.0, 1), (float("inf"), 2)], 1.0, id="in-inf-the-highest-bound"),
])
def test_quantiles_are_estimated_from_buckets_as_prometheus_does(q: float, cumulative: list, expected: Any) -> None:
    from stepline.runtime.metrics import quantile

    assert quantile(q, cumulative) == (pytest.approx(expected) if expected is not None else None)
