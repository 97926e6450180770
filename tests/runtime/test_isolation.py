"""One bad workflow never hurts another: hostile executions beside healthy ones, through real servers.

Hostile workflows (a catastrophic regular expression, endless recursion, data nested past what can be written, a
Wait of 1e300 seconds, a quadratic JSONPath filter) run beside healthy ones, on SQLite and on PostgreSQL with two
workers. Throughout, the API answers within a second; the healthy executions finish on time; the hostile ones end
with AWS's error for a failed evaluation and a complete history; StopExecution answers at once; and after a SIGKILL
and a restart, every healthy execution recovered beside a poison one finishes.
"""

from __future__ import annotations

import json
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from serving import ROLE, StepLine, finished, history
from support import fresh_schema

LIMIT = {"STEPLINE_EVALUATION_SECONDS": "2"}  # the evaluation limit (default 5 s), short for the test's sake
FAST = ["--lease-seconds", "3", "--poll-seconds", "0.5"]


def jsonata_pass(output: str) -> dict:
    return {"QueryLanguage": "JSONata", "StartAt": "Evaluate",
            "States": {"Evaluate": {"Type": "Pass", "Output": output, "End": True}}}


NESTED = "{% ($f := function($n) { $n = 0 ? 'bottom' : {'a': $f($n - 1)} }; $f(300)) %}"
# name -> (definition, input, the error it must end with)
HOSTILE: dict[str, tuple[dict, Any, str]] = {
    "regex": (jsonata_pass("{% $contains('aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa!', /^(a+)+$/) %}"), {},
              "States.QueryEvaluationError"),
    "loop": (jsonata_pass("{% ($f := function($x) { $f($x) }; $f(1)) %}"), {}, "States.QueryEvaluationError"),
    "nested": (jsonata_pass(NESTED), {}, "States.Runtime"),
    "wait": ({"StartAt": "Wait", "States": {"Wait": {"Type": "Wait", "SecondsPath": "$.seconds", "End": True}}},
             {"seconds": 1e300}, "States.Runtime"),
    "filter": ({"StartAt": "Filter", "States": {"Filter": {
        "Type": "Pass", "InputPath": "$.items[?(@ in $.items)]", "End": True}}},
        {"items": list(range(20_000))}, "States.Runtime"),
}
HEALTHY = {"StartAt": "Wait", "States": {"Wait": {"Type": "Wait", "Seconds": 1, "Next": "Done"},
                                         "Done": {"Type": "Pass", "Result": "done", "End": True}}}


@pytest.fixture(params=["sqlite", "postgres-two-workers"])
def servers(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[list[StepLine]]:
    if request.param == "sqlite":
        started = [StepLine.start(tmp_path / "store.db", environment=LIMIT)]
        yield started
    else:
        with fresh_schema(request.getfixturevalue("postgres_url"), "iso") as (location, _):
            started = [StepLine.start(location, options=[*FAST, "--worker-name", f"w{n}"], environment=LIMIT,
                                      log=tmp_path / f"w{n}.log") for n in range(2)]
            yield started
            for server in started:
                server.stop()
            return
    for server in started:
        server.stop()


class Responsiveness:
    """Calls the API every 50 ms in a thread and keeps the slowest answer."""

    def __init__(self, server: StepLine) -> None:
        self.sfn = server.client(read_timeout=30)
        self.slowest = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            began = time.monotonic()
            self.sfn.list_state_machines()
            self.slowest = max(self.slowest, time.monotonic() - began)
            time.sleep(0.05)

    def __enter__(self) -> Responsiveness:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        self._thread.join()


def create(sfn: Any, name: str, definition: dict) -> str:
    return sfn.create_state_machine(name=name, definition=json.dumps(definition), roleArn=ROLE)["stateMachineArn"]


def start(sfn: Any, machine: str, value: Any = None) -> str:
    return sfn.start_execution(stateMachineArn=machine, input=json.dumps({} if value is None else value))[
        "executionArn"]


def assert_failed_completely(sfn: Any, arn: str, error: str) -> None:
    described = finished(sfn, arn, timeout=30)
    assert (described["status"], described.get("error")) == ("FAILED", error), described
    events = history(sfn, arn)
    assert events[-1]["type"] == "ExecutionFailed"
    assert events[-1]["executionFailedEventDetails"]["cause"]


def test_hostile_executions_hurt_no_one_else(servers: list[StepLine]) -> None:
    sfn = servers[0].client(read_timeout=30)
    healthy = create(sfn, "healthy", HEALTHY)
    hostile = {name: (create(sfn, f"hostile-{name}", definition), value, error)
               for name, (definition, value, error) in HOSTILE.items()}
    with Responsiveness(servers[-1]) as api:
        poisons = [(start(sfn, machine, value), error) for machine, value, error in hostile.values()
                   for _ in range(2)]
        began = time.monotonic()
        sane = [start(sfn, healthy) for _ in range(20)]
        for arn in sane:
            described = finished(sfn, arn, timeout=30)
            assert described["status"] == "SUCCEEDED", described
        healthy_seconds = time.monotonic() - began
        for arn, error in poisons:
            assert_failed_completely(sfn, arn, error)
    assert healthy_seconds < 5, f"the healthy executions (a Wait of 1 s) took {healthy_seconds:.1f} s"
    assert api.slowest < 1, f"an API call took {api.slowest:.2f} s"


def test_stop_answers_at_once_while_an_evaluation_runs(servers: list[StepLine]) -> None:
    sfn = servers[0].client(read_timeout=30)
    machine = create(sfn, "spin", jsonata_pass(HOSTILE["regex"][0]["States"]["Evaluate"]["Output"]))
    arn = start(sfn, machine)
    time.sleep(0.5)  # the evaluation is under way (it runs for the 2 s limit)
    began = time.monotonic()
    sfn.stop_execution(executionArn=arn, error="Stopped", cause="by the test")
    assert time.monotonic() - began < 1
    described = finished(sfn, arn, timeout=10)
    assert described["status"] == "ABORTED", described
    events = history(sfn, arn)
    assert [events[0]["type"], events[-1]["type"]] == ["ExecutionStarted", "ExecutionAborted"]


def test_a_poison_execution_does_not_hold_the_recovery_of_others(servers: list[StepLine]) -> None:
    sfn = servers[0].client()
    healthy = create(sfn, "healthy", {"StartAt": "Wait", "States": {
        "Wait": {"Type": "Wait", "Seconds": 2, "Next": "Done"}, "Done": {"Type": "Succeed"}}})
    spin = create(sfn, "spin", {"QueryLanguage": "JSONata", "StartAt": "Wait", "States": {
        "Wait": {"Type": "Wait", "Seconds": 2, "Next": "Evaluate"},
        "Evaluate": HOSTILE["regex"][0]["States"]["Evaluate"]}})
    poisons = [start(sfn, spin) for _ in range(3)]
    sane = [start(sfn, healthy) for _ in range(50)]
    for server in servers:  # every execution waits: their timers fire together after the restart, poisons among them
        server.kill()
    time.sleep(2)
    servers[:] = [server.restart() for server in servers]
    sfn = servers[0].client()
    began = time.monotonic()
    for arn in sane:
        assert finished(sfn, arn, timeout=30)["status"] == "SUCCEEDED"
    assert time.monotonic() - began < 8  # PostgreSQL: the dead workers' leases (3 s) expire first
    for arn in poisons:
        assert_failed_completely(sfn, arn, "States.QueryEvaluationError")


def test_test_state_and_express_executions_are_bounded_too(tmp_path: Path) -> None:
    server = StepLine.start(tmp_path / "store.db", environment=LIMIT)
    try:
        sfn = server.client(read_timeout=30)
        spin = HOSTILE["regex"][0]
        express = sfn.create_state_machine(name="spin", definition=json.dumps(spin), roleArn=ROLE,
                                           type="EXPRESS")["stateMachineArn"]
        with Responsiveness(server) as api:
            tested = sfn.test_state(definition=json.dumps(spin["States"]["Evaluate"] | {"QueryLanguage": "JSONata"}),
                                    roleArn=ROLE, input="{}")
            ran = sfn.start_sync_execution(stateMachineArn=express, input="{}")
        assert (tested["status"], tested["error"]) == ("FAILED", "States.QueryEvaluationError"), tested
        assert "Evaluation timeout after 2000 milliseconds" in tested["cause"]
        assert (ran["status"], ran["error"]) == ("FAILED", "States.QueryEvaluationError"), ran
        assert api.slowest < 1, f"an API call took {api.slowest:.2f} s"
    finally:
        server.stop()


def test_the_largest_definitions_are_validated_and_drawn_off_the_event_loop(tmp_path: Path) -> None:
    states = {f"S{i}": {"Type": "Pass", "Next": f"S{i + 1}"} for i in range(19_000)}  # about 900 KB
    definition = json.dumps({"StartAt": "S0", "States": {**states, "S19000": {"Type": "Succeed"}}})
    server = StepLine.start(tmp_path / "store.db")
    try:
        sfn = server.client(read_timeout=60)
        with Responsiveness(server) as api:
            assert sfn.validate_state_machine_definition(definition=definition)["result"] == "OK"
            create(sfn, "large", json.loads(definition))
            request = urllib.request.Request(f"{server.url}/console/api/graph", method="POST",
                                             data=json.dumps({"definition": definition}).encode(),
                                             headers={"Content-Type": "application/json"})
            with urllib.request.urlopen(request, timeout=60) as response:
                assert json.loads(response.read())["svg"].startswith("<svg")
        assert api.slowest < 1, f"an API call took {api.slowest:.2f} s"
    finally:
        server.stop()
