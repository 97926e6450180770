"""Crash test: `stepline serve` is SIGKILLed at random moments while a few hundred executions run, and restarted,
on SQLite and on PostgreSQL (where the restarted server, under the same --worker-name, takes its leases back at
once instead of waiting for them to expire).

Every execution must complete exactly once, with the right output and a whole history: contiguous ids, every
state entered and left as often as the definition says (no duplicate from a re-run step, none missing), one
scheduled task per answered task. Tasks are dispatched at least once, so a crash may run a function twice; its
answer is recorded once. The seed is printed; STEPLINE_CRASH_SEED=N replays a run's schedule of kills.
"""

from __future__ import annotations

import json
import os
import random
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

from botocore.exceptions import BotoCoreError

from serving import ROLE, StepLine
from support import lambda_task

from .conftest import Backend

ROUNDS = 6  # SIGKILLs
EXECUTIONS = 300  # started over the first rounds, spread over the machines
PREFIX = "arn:aws:states:us-east-1:123456789012"


# name -> (definition, expected output for {"value": n}, times each state is entered, Lambda events expected)
MACHINES: dict[str, tuple[dict, Any, Counter, Counter]] = {
    "chain": ({"StartAt": "First", "States": {
        "First": lambda_task("add_one", Next="Pause"),
        "Pause": {"Type": "Wait", "Seconds": 1, "Next": "Second"},
        "Second": lambda_task("slow_add_one", Next="Third"),
        "Third": lambda_task("flaky_add_one", End=True,
                      Parameters={"value.$": "$.value", "attempt.$": "$$.State.RetryCount"},
                      Retry=[{"ErrorEquals": ["Flaky"], "IntervalSeconds": 1, "MaxAttempts": 2}])}},
        lambda n: {"value": n + 3}, Counter(First=1, Pause=1, Second=1, Third=1),
        Counter(LambdaFunctionScheduled=4, LambdaFunctionSucceeded=3, LambdaFunctionFailed=1)),
    "fan": ({"StartAt": "Both", "States": {
        "Both": {"Type": "Parallel", "End": True, "Branches": [
            {"StartAt": "Quick", "States": {"Quick": lambda_task("add_one", End=True)}},
            {"StartAt": "Nap", "States": {"Nap": {"Type": "Wait", "Seconds": 1, "Next": "Slow"},
                                          "Slow": lambda_task("slow_add_one", End=True)}}]}}},
        lambda n: [{"value": n + 1}, {"value": n + 1}], Counter(Both=1, Quick=1, Nap=1, Slow=1),
        Counter(LambdaFunctionScheduled=2, LambdaFunctionSucceeded=2)),
    "items": ({"StartAt": "Spread", "States": {
        "Spread": {"Type": "Pass", "Parameters": {"items.$": "States.ArrayRange(1, 5, 1)", "value.$": "$.value"},
                   "Next": "Each"},
        "Each": {"Type": "Map", "ItemsPath": "$.items", "MaxConcurrency": 2, "End": True,
                 "ItemSelector": {"value.$": "$$.Map.Item.Value"},
                 "ItemProcessor": {"StartAt": "Work", "States": {
                     "Work": lambda_task("slow_add_one", Next="More"),
                     "More": lambda_task("add_one", End=True)}}}}},
        lambda n: [{"value": i + 2} for i in range(1, 6)], Counter(Spread=1, Each=1, Work=5, More=5),
        Counter(LambdaFunctionScheduled=10, LambdaFunctionSucceeded=10)),
}


def create_machines(server: StepLine) -> dict[str, str]:
    """The machines of MACHINES (created again after a crash: creating the same machine is idempotent)."""
    sfn = server.client()
    return {name: sfn.create_state_machine(name=name, definition=json.dumps(definition),
                                           roleArn=ROLE)["stateMachineArn"]
            for name, (definition, *_) in MACHINES.items()}


def start_executions(server: StepLine, pending: list[tuple[str, int]], executions: dict[str, tuple[str, int]]) -> None:
    """StartExecution for each pending (machine, number) until done or the server dies under it.

    A start whose answer was lost to a crash is sent again after the restart: it is then either the same request
    (the execution runs: idempotent) or an execution that already ended (ExecutionAlreadyExists); both count.
    """
    sfn = server.client()
    while pending:
        machine, number = pending[0]
        arn = f"{PREFIX}:execution:{machine}:run-{number}"
        try:
            sfn.start_execution(stateMachineArn=f"{PREFIX}:stateMachine:{machine}", name=f"run-{number}",
                                input=json.dumps({"value": number}))
        except sfn.exceptions.ExecutionAlreadyExists:
            assert json.loads(sfn.describe_execution(executionArn=arn)["input"]) == {"value": number}
        except BotoCoreError:  # the server was killed: the rest waits for the restart
            return
        executions[arn] = pending.pop(0)


def wait_until_done(server: StepLine, timeout: float) -> None:
    sfn = server.client()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        running = sum(len(sfn.list_executions(stateMachineArn=arn, statusFilter="RUNNING", maxResults=1)["executions"])
                      for arn in (m["stateMachineArn"] for m in sfn.list_state_machines()["stateMachines"]))
        if not running:
            return
        time.sleep(0.25)
    raise AssertionError("executions still running after the last restart")


def check_history(events: list[dict], machine: str) -> None:
    assert [e["id"] for e in events] == list(range(1, len(events) + 1)), "history ids are not contiguous"
    for event in events[1:]:
        assert 0 <= event["previousEventId"] < event["id"], event
    kinds = Counter(e["type"] for e in events)
    assert kinds["ExecutionStarted"] == 1 and kinds["ExecutionSucceeded"] == 1, kinds
    assert events[0]["type"] == "ExecutionStarted" and events[-1]["type"] == "ExecutionSucceeded"
    entered = Counter(e["stateEnteredEventDetails"]["name"] for e in events if "stateEnteredEventDetails" in e)
    exited = Counter(e["stateExitedEventDetails"]["name"] for e in events if "stateExitedEventDetails" in e)
    expected = MACHINES[machine][2]
    assert entered == expected, f"states entered {dict(entered)}, expected {dict(expected)}"
    assert exited == expected, f"states exited {dict(exited)}, expected {dict(expected)}"
    lambda_events = Counter({kind: count for kind, count in kinds.items() if kind.startswith("LambdaFunction")})
    expected_lambda = MACHINES[machine][3] + Counter(LambdaFunctionStarted=MACHINES[machine][3][
        "LambdaFunctionScheduled"])  # a retry schedules again; a re-dispatch after a crash does not
    assert lambda_events == expected_lambda, lambda_events
    assert kinds["WaitStateEntered"] == kinds["WaitStateExited"], kinds
    if machine == "items":
        indexes = Counter(e["mapIterationStartedEventDetails"]["index"] for e in events
                          if e["type"] == "MapIterationStarted")
        assert indexes == Counter(range(5)) and kinds["MapIterationSucceeded"] == 5, kinds


def test_sigkill_rounds_lose_and_repeat_nothing(backend: Backend, tmp_path: Path) -> None:
    seed = int(os.environ.get("STEPLINE_CRASH_SEED", random.randrange(1 << 30)))
    print(f"crash test seed: {seed}")
    rng = random.Random(seed)
    server = StepLine.start(backend.location, functions=["durable_functions"],  # type: ignore[arg-type]
                            options=["--worker-name", "crash-test"], log=tmp_path / "server.log")
    executions: dict[str, tuple[str, int]] = {}
    pending = [(list(MACHINES)[i % len(MACHINES)], i) for i in range(EXECUTIONS)]
    interrupted = 0  # rounds whose kill cut StartExecution requests short
    try:
        for round_number in range(ROUNDS):
            create_machines(server)
            # start a share of the executions while the server may be killed under the requests
            batch = pending[:EXECUTIONS // (ROUNDS - 1) + 1] if round_number < ROUNDS - 1 else []
            del pending[:len(batch)]
            starter = threading.Thread(target=start_executions, args=(server, batch, executions))
            starter.start()
            time.sleep(rng.uniform(0.2, 1.5))
            server.kill()
            starter.join()
            pending[:0] = batch  # what the crash interrupted goes first next round
            interrupted += bool(batch)
            server = server.restart()
        start_executions(server, pending, executions)
        assert not pending
        print(f"rounds that killed the server during StartExecution requests: {interrupted}")
        wait_until_done(server, timeout=30)
        sfn = server.client()
        problems = []
        for arn, (machine, number) in sorted(executions.items()):
            described = sfn.describe_execution(executionArn=arn)
            try:
                assert described["status"] == "SUCCEEDED", (described["status"], described.get("cause"))
                assert json.loads(described["output"]) == MACHINES[machine][1](number)
                events = sfn.get_execution_history(executionArn=arn, maxResults=1000)["events"]
                check_history(events, machine)
            except AssertionError as error:
                problems.append(f"{arn}: {error}")
        assert not problems, f"seed {seed}: {len(problems)} of {len(executions)} executions wrong:\n" + "\n".join(
            problems[:10])
        assert len(executions) == EXECUTIONS
    except Exception:  # the seed replays the kills (STEPLINE_CRASH_SEED); the server's log tells what it saw
        print(f"crash test seed {seed}; server log:\n{server.log.read_text()[-4000:]}")
        raise
    finally:
        server.stop()
