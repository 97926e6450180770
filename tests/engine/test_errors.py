"""Errors end to end: Retry timing under the virtual clock, Catch, error-name matching, timeouts and limits."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta
from typing import Any

import pytest
from support import details, events_of, lambda_arn, machine, run

from stepline.runtime.integrations.registry import Integration
from stepline.service.workflow import Workflow


class Flaky:
    """A local function that raises the given exceptions in turn, then returns the number of calls."""

    def __init__(self, *errors: BaseException) -> None:
        self.errors = list(errors)
        self.calls = 0

    def __call__(self, event: Any, context: Any) -> Any:
        self.calls += 1
        if self.errors:
            raise self.errors.pop(0)
        return {"calls": self.calls}


class Busy(Exception):
    pass


class Broken(Exception):
    pass


def _task(retry: list | None = None, catch: list | None = None, **fields: Any) -> dict:
    state: dict[str, Any] = {"Type": "Task", "Resource": lambda_arn("f"), **fields}
    if retry is not None:
        state["Retry"] = retry
    if catch is not None:
        state["Catch"] = catch
    states: dict[str, Any] = {"T": {**state, "End": True}}
    for catcher in catch or []:
        states.setdefault(catcher["Next"], {"Type": "Pass", "End": True})
    return machine(states)


def _attempt_times(history: list[dict]) -> list[float]:
    """Seconds from the start of the execution at which each attempt was scheduled."""
    start = history[0]["timestamp"]
    return [(e["timestamp"] - start).total_seconds() for e in events_of(history, "LambdaFunctionScheduled")]


# ---------------------------------------------------------------------------------------------------------------
# Retry


@pytest.mark.parametrize(("retrier", "failures", "expected_times"), [
    pytest.param({}, 3, [0, 1, 3, 7], id="defaults-1s-x2-3-attempts"),
    pytest.param({"IntervalSeconds": 5, "BackoffRate": 1}, 2, [0, 5, 10], id="constant-interval"),
    pytest.param({"IntervalSeconds": 2, "BackoffRate": 3}, 3, [0, 2, 8, 26], id="backoff-rate"),
    pytest.param({"IntervalSeconds": 10, "BackoffRate": 2, "MaxDelaySeconds": 15, "MaxAttempts": 4}, 4,
                 [0, 10, 25, 40, 55], id="max-delay-caps-interval"),
    pytest.param({"IntervalSeconds": 3600, "MaxAttempts": 1}, 1, [0, 3600], id="hour-long-interval-is-instant"),
])
def test_retry_intervals_in_history_timestamps(retrier: dict, failures: int, expected_times: list[float]) -> None:
    function = Flaky(*[Busy("busy")] * failures)
    result = run(_task([{"ErrorEquals": ["Busy"], **retrier}]), functions={"f": function})
    assert result.status == "SUCCEEDED", result.cause
    assert result.output == {"calls": failures + 1}
    assert _attempt_times(result.history) == expected_times
    types = result.event_types()
    assert types.count("TaskStateEntered") == 1  # a retry re-runs the task, not the state
    assert types.count("LambdaFunctionFailed") == failures


def test_retry_exhausted_fails_with_last_error() -> None:
    function = Flaky(*[Busy(f"busy {i}") for i in range(5)])
    result = run(_task([{"ErrorEquals": ["Busy"], "MaxAttempts": 2}]), functions={"f": function})
    assert (result.status, result.error) == ("FAILED", "Busy")
    assert json.loads(result.cause)["errorMessage"] == "busy 2"
    assert function.calls == 3


def test_retry_max_attempts_zero_never_retries() -> None:
    function = Flaky(Busy("once"))
    result = run(_task([{"ErrorEquals": ["Busy"], "MaxAttempts": 0}]), functions={"f": function})
    assert (result.status, result.error, function.calls) == ("FAILED", "Busy", 1)


def test_retry_first_matching_retrier_wins() -> None:
    """The first retrier naming the error applies; a later, more generous one is not consulted."""
    function = Flaky(Busy("1"), Busy("2"), Busy("3"))
    retry = [{"ErrorEquals": ["Busy"], "MaxAttempts": 1, "IntervalSeconds": 7},
             {"ErrorEquals": ["States.ALL"], "MaxAttempts": 5, "IntervalSeconds": 1}]
    result = run(_task(retry), functions={"f": function})
    assert (result.status, result.error, function.calls) == ("FAILED", "Busy", 2)
    assert _attempt_times(result.history) == [0, 7]


def test_retry_each_retrier_counts_its_own_attempts() -> None:
    function = Flaky(Busy("a"), Broken("b"), Busy("c"), Broken("d"))
    retry = [{"ErrorEquals": ["Busy"], "MaxAttempts": 2, "IntervalSeconds": 1, "BackoffRate": 10},
             {"ErrorEquals": ["Broken"], "MaxAttempts": 2, "IntervalSeconds": 2, "BackoffRate": 1}]
    result = run(_task(retry), functions={"f": function})
    assert result.status == "SUCCEEDED", result.cause
    # Busy waits 1 then 10, Broken waits 2 then 2: attempts at 0, 1, 3, 13, 15
    assert _attempt_times(result.history) == [0, 1, 3, 13, 15]


def test_retry_count_in_context() -> None:
    seen: list[int] = []

    def f(event: dict, context: Any) -> str:
        seen.append(event["retry"])
        if len(seen) < 3:
            raise Busy()
        return "ok"

    definition = _task([{"ErrorEquals": ["Busy"]}], Parameters={"retry.$": "$$.State.RetryCount"})
    assert run(definition, functions={"f": f}).output == "ok"
    assert seen == [0, 1, 2]


@pytest.mark.parametrize("seed", range(5))
def test_retry_full_jitter_stays_within_bounds(seed: int) -> None:
    function = Flaky(*[Busy()] * 4)
    retry = [{"ErrorEquals": ["Busy"], "IntervalSeconds": 10, "BackoffRate": 2, "MaxAttempts": 4,
              "MaxDelaySeconds": 30, "JitterStrategy": "FULL"}]
    result = run(_task(retry), functions={"f": function}, seed=seed)
    assert result.status == "SUCCEEDED"
    times = _attempt_times(result.history)
    delays = [b - a for a, b in zip(times, times[1:])]
    bounds = [10, 20, 30, 30]
    assert all(0 <= delay <= bound for delay, bound in zip(delays, bounds)), delays
    assert len(set(delays)) > 1  # jittered, not the fixed schedule


def test_retry_jitter_none_is_the_fixed_schedule() -> None:
    function = Flaky(Busy(), Busy())
    retry = [{"ErrorEquals": ["Busy"], "IntervalSeconds": 4, "JitterStrategy": "NONE"}]
    assert _attempt_times(run(_task(retry), functions={"f": function}).history) == [0, 4, 12]


def test_retry_exhausted_goes_to_catch() -> None:
    function = Flaky(Busy("1"), Busy("2"), Busy("3"))
    definition = _task([{"ErrorEquals": ["Busy"], "MaxAttempts": 2}],
                       [{"ErrorEquals": ["Busy"], "ResultPath": "$.error", "Next": "Handled"}])
    result = run(definition, {"keep": 1}, functions={"f": function})
    assert result.status == "SUCCEEDED"
    assert function.calls == 3
    assert result.output["keep"] == 1
    assert result.output["error"]["Error"] == "Busy"
    assert json.loads(result.output["error"]["Cause"])["errorMessage"] == "3"


def test_retry_applies_to_parallel_state_as_a_whole() -> None:
    function = Flaky(Busy())
    definition = machine({"P": {"Type": "Parallel", "Branches": [
        {"StartAt": "A", "States": {"A": {"Type": "Pass", "Result": "a", "End": True}}},
        {"StartAt": "B", "States": {"B": {"Type": "Task", "Resource": lambda_arn("f"), "End": True}}},
    ], "Retry": [{"ErrorEquals": ["Busy"], "IntervalSeconds": 2}], "End": True}})
    result = run(definition, functions={"f": function})
    assert result.output == ["a", {"calls": 2}]
    types = result.event_types()
    assert types.count("ParallelStateStarted") == 2
    assert types.count("PassStateEntered") == 2  # both branches run again
    assert "ParallelStateFailed" not in types  # not recorded when a Retry restarts the state


# ---------------------------------------------------------------------------------------------------------------
# Catch


ERROR = {"Error": "Broken", "Cause": "CAUSE"}


@pytest.mark.parametrize(("catch", "expected"), [
    pytest.param({}, ERROR, id="no-result-path-replaces-input"),
    pytest.param({"ResultPath": "$.err"}, {"in": 1, "err": ERROR}, id="result-path-adds-error"),
    pytest.param({"ResultPath": None}, {"in": 1}, id="result-path-null-keeps-input"),
    pytest.param({"ResultPath": "$.in"}, {"in": ERROR}, id="result-path-replaces-field"),
])
def test_catch_result_path(catch: dict, expected: dict) -> None:
    definition = _task(catch=[{"ErrorEquals": ["Broken"], "Next": "Handled", **catch}])
    result = run(definition, {"in": 1}, functions={"f": Flaky(Broken("kaput"))})
    assert result.status == "SUCCEEDED"
    cause = details(events_of(result.history, "LambdaFunctionFailed")[0])["cause"]
    assert json.loads(cause)["errorMessage"] == "kaput"
    assert result.output == json.loads(json.dumps(expected).replace('"CAUSE"', json.dumps(cause)))
    types = result.event_types()
    assert types[types.index("LambdaFunctionFailed") + 1:] == [
        "TaskStateExited", "PassStateEntered", "PassStateExited", "ExecutionSucceeded"]


def test_catch_fail_state_error_without_cause() -> None:
    definition = machine({
        "P": {"Type": "Parallel", "Branches": [
            {"StartAt": "F", "States": {"F": {"Type": "Fail", "Error": "Custom"}}}],
            "Catch": [{"ErrorEquals": ["Custom"], "Next": "Handled"}], "End": True},
        "Handled": {"Type": "Pass", "End": True},
    })
    assert run(definition).output == {"Error": "Custom"}


def test_catchers_are_tried_in_order() -> None:
    definition = _task(catch=[{"ErrorEquals": ["Other"], "Next": "First"},
                              {"ErrorEquals": ["Broken", "Busy"], "Next": "Second"},
                              {"ErrorEquals": ["States.ALL"], "Next": "Third"}])
    result = run(definition, functions={"f": Flaky(Busy())})
    entered = [details(e)["name"] for e in events_of(result.history, "PassStateEntered")]
    assert entered == ["Second"]


@pytest.mark.parametrize(("error", "errors", "caught"), [
    pytest.param("Broken", ["States.ALL"], True, id="all-catches-custom"),
    pytest.param("Broken", ["States.TaskFailed"], True, id="task-failed-catches-custom"),
    pytest.param("States.Timeout", ["States.ALL"], True, id="all-catches-timeout"),
    pytest.param("States.Timeout", ["States.TaskFailed"], False, id="task-failed-skips-timeout"),
    pytest.param("States.Timeout", ["States.Timeout"], True, id="timeout-by-name"),
    pytest.param("States.Runtime", ["States.ALL"], False, id="all-skips-runtime"),
    pytest.param("States.Runtime", ["States.Runtime"], False, id="runtime-never-caught-even-by-name"),
    pytest.param("States.DataLimitExceeded", ["States.ALL"], False, id="all-skips-data-limit"),
    pytest.param("States.DataLimitExceeded", ["States.DataLimitExceeded"], True, id="data-limit-by-name"),
    pytest.param("Broken", ["Busy"], False, id="other-name"),
    pytest.param("broken", ["Broken"], False, id="names-are-case-sensitive"),
])
def test_error_name_matching(error: str, errors: list[str], caught: bool) -> None:
    """Drive the errors through a mocked task, so that any name (including States.*) can be thrown."""
    from stepline.runtime.integrations.mock_config import MockConfig

    mock = MockConfig.from_json({
        "StateMachines": {"m": {"TestCases": {"t": {"T": "Throw"}}}},
        "MockedResponses": {"Throw": {"0": {"Throw": {"Error": error, "Cause": "c"}}}},
    })
    definition = _task(catch=[{"ErrorEquals": errors, "Next": "Handled"}])
    result = Workflow(definition, name="m", mock_config=mock).run({}, time_scale=0, test_case="t")
    assert result.status == ("SUCCEEDED" if caught else "FAILED")
    if not caught:
        assert (result.error, result.cause) == (error, "c")


@pytest.mark.parametrize(("errors", "retried"), [
    pytest.param(["States.ALL"], False, id="all"),
    pytest.param(["States.Runtime"], False, id="by-name"),
])
def test_runtime_error_is_never_retried(errors: list[str], retried: bool) -> None:
    definition = machine({"T": {"Type": "Task", "Resource": lambda_arn("f"), "InputPath": "$.missing",
                                "Retry": [{"ErrorEquals": errors}],
                                "Catch": [{"ErrorEquals": errors, "Next": "H"}], "End": True},
                          "H": {"Type": "Pass", "End": True}})
    result = run(definition, {}, functions={"f": Flaky()})
    assert (result.status, result.error) == ("FAILED", "States.Runtime")
    assert result.event_types() == ["ExecutionStarted", "TaskStateEntered", "ExecutionFailed"]


def test_catch_error_from_map_iteration() -> None:
    definition = machine({
        "M": {"Type": "Map", "ItemProcessor": {"StartAt": "T", "States": {
            "T": {"Type": "Task", "Resource": lambda_arn("f"), "End": True}}},
            "Catch": [{"ErrorEquals": ["Broken"], "ResultPath": "$", "Next": "H"}], "End": True},
        "H": {"Type": "Pass", "Parameters": {"error.$": "$.Error"}, "End": True},
    })
    result = run(definition, [1, 2], functions={"f": Flaky(Broken("x"))})
    assert result.output == {"error": "Broken"}


# ---------------------------------------------------------------------------------------------------------------
# Timeouts


def test_task_timeout_seconds_with_a_slow_async_function() -> None:
    """The one real-time test: a local function slower than TimeoutSeconds gives States.Timeout."""
    cancelled = asyncio.Event()

    async def slow(event: Any, context: Any) -> str:
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            cancelled.set()
            raise
        return "too late"

    async def check(event: Any, context: Any) -> dict:
        return {"cancelled": cancelled.is_set(), "error": event}

    definition = machine({
        "T": {"Type": "Task", "Resource": lambda_arn("slow"), "TimeoutSeconds": 1,
              "Retry": [{"ErrorEquals": ["States.TaskFailed"], "MaxAttempts": 5}],  # TaskFailed skips Timeout
              "Catch": [{"ErrorEquals": ["States.Timeout"], "Next": "Check"}], "End": True},
        "Check": {"Type": "Task", "Resource": lambda_arn("check"), "InputPath": "$.Error", "End": True},
    })
    result = run(definition, {}, functions={"slow": slow, "check": check}, time_scale=None)
    assert result.status == "SUCCEEDED", result.cause
    assert result.output == {"cancelled": True, "error": "States.Timeout"}
    types = result.event_types()
    assert types.count("LambdaFunctionTimedOut") == 1 and "LambdaFunctionFailed" not in types
    scheduled, = [e for e in events_of(result.history, "LambdaFunctionScheduled")
                  if details(e)["resource"] == lambda_arn("slow")]
    assert details(scheduled)["timeoutInSeconds"] == 1
    timed_out, = events_of(result.history, "LambdaFunctionTimedOut")
    assert details(timed_out)["error"] == "States.Timeout"
    waited = (timed_out["timestamp"] - scheduled["timestamp"]).total_seconds()
    assert 0.9 <= waited < 5


@pytest.mark.parametrize(("states", "timeout", "expected_seconds"), [
    pytest.param({"W": {"Type": "Wait", "Seconds": 100, "End": True}}, 10, 10, id="wait-longer-than-timeout"),
    pytest.param({"W": {"Type": "Wait", "Seconds": 5, "Next": "W2"},
                  "W2": {"Type": "Wait", "Seconds": 86_400, "End": True}}, 3600, 3600, id="second-wait"),
    pytest.param({"T": {"Type": "Task", "Resource": lambda_arn("f"),
                        "Retry": [{"ErrorEquals": ["States.ALL"], "IntervalSeconds": 60, "MaxAttempts": 10}],
                        "End": True}}, 100, 100, id="during-retry-interval"),
])
def test_execution_timeout_seconds(states: dict, timeout: int, expected_seconds: int) -> None:
    function = Flaky(*[Busy()] * 20)
    result = run(machine(states, TimeoutSeconds=timeout), {}, functions={"f": function})
    assert (result.status, result.error, result.cause) == ("TIMED_OUT", None, None)
    assert result.output is None
    assert result.history[-1]["type"] == "ExecutionTimedOut"
    assert result.stop_date - result.start_date == timedelta(seconds=expected_seconds)


def test_execution_timeout_not_reached() -> None:
    result = run(machine({"W": {"Type": "Wait", "Seconds": 9, "End": True}}, TimeoutSeconds=10))
    assert result.status == "SUCCEEDED"


def test_execution_timeout_stops_parallel_branches() -> None:
    definition = machine({"P": {"Type": "Parallel", "Branches": [
        {"StartAt": "A", "States": {"A": {"Type": "Wait", "Seconds": 50, "End": True}}},
        {"StartAt": "B", "States": {"B": {"Type": "Wait", "Seconds": 5, "Next": "C"},
                                    "C": {"Type": "Wait", "Seconds": 50, "End": True}}},
    ], "End": True}}, TimeoutSeconds=20)
    result = run(definition)
    assert result.status == "TIMED_OUT"
    types = result.event_types()
    assert types.count("WaitStateExited") == 1  # only B's first Wait finished
    assert types[-1] == "ExecutionTimedOut"


# ---------------------------------------------------------------------------------------------------------------
# Payload size limit

BIG = "x" * (256 * 1024)
HALF = "x" * 150_000  # a value under the limit that is over it twice


@pytest.mark.parametrize(("states", "functions"), [
    pytest.param({"P": {"Type": "Pass", "Parameters": {"a.$": "$.half", "b.$": "$.half"}, "End": True}}, {},
                 id="pass-output"),
    pytest.param({"T": {"Type": "Task", "Resource": lambda_arn("big"), "ResultPath": "$.r", "End": True}},
                 {"big": lambda event, context: BIG}, id="task-output"),
    pytest.param({"T": {"Type": "Task", "Resource": lambda_arn("big"), "ResultSelector": {"n": 1}, "End": True}},
                 {"big": lambda event, context: BIG}, id="task-result-too-big-even-when-selected-away"),
    pytest.param({"T": {"Type": "Task", "Resource": lambda_arn("small"),
                        "Parameters": {"a.$": "$.half", "b.$": "$.half"}, "End": True}},
                 {"small": lambda event, context: 1}, id="task-input-after-parameters"),
])
def test_data_limit_exceeded_is_not_caught_by_states_all(states: dict, functions: dict) -> None:
    name = next(iter(states))
    state = states[name]
    if state["Type"] == "Task":
        state["Catch"] = [{"ErrorEquals": ["States.ALL"], "Next": "H"}]
        state["Retry"] = [{"ErrorEquals": ["States.ALL"]}]
        states = {**states, "H": {"Type": "Pass", "End": True}}
    result = run(machine(states), {"half": HALF}, functions=functions)
    assert (result.status, result.error) == ("FAILED", "States.DataLimitExceeded")
    assert result.cause and f"'{name}'" in result.cause and "maximum number of bytes" in result.cause
    assert not [e for e in result.history if details(e).get("name") == "H"]
    assert len(events_of(result.history, "LambdaFunctionScheduled")) <= 1  # never retried


def test_data_limit_counts_bytes_not_characters() -> None:
    # 100 000 three-byte characters: 300 000 bytes, under 256 Ki characters
    result = run(machine({"P": {"Type": "Pass", "Result": "€" * 100_000, "End": True}}))
    assert (result.status, result.error) == ("FAILED", "States.DataLimitExceeded")


def test_data_limit_by_name_can_be_caught() -> None:
    definition = machine({
        "T": {"Type": "Task", "Resource": lambda_arn("big"), "ResultPath": "$.r",
              "Catch": [{"ErrorEquals": ["States.DataLimitExceeded"], "Next": "H"}], "End": True},
        "H": {"Type": "Pass", "Parameters": {"caught.$": "$.Error"}, "End": True}})
    result = run(definition, {}, functions={"big": lambda event, context: BIG})
    assert result.output == {"caught": "States.DataLimitExceeded"}


def test_output_just_under_the_limit_succeeds() -> None:
    text = "x" * (256 * 1024 - 2)  # with its quotes, exactly 256 KiB
    result = run(machine({"P": {"Type": "Pass", "Result": text, "End": True}}))
    assert result.status == "SUCCEEDED"


# ---------------------------------------------------------------------------------------------------------------
# Lambda failures


class PaymentDeclined(Exception):
    pass


@pytest.mark.parametrize(("exception", "name"), [
    pytest.param(ValueError("bad value"), "ValueError", id="builtin"),
    pytest.param(PaymentDeclined("card 42"), "PaymentDeclined", id="custom-class"),
    pytest.param(KeyError("k"), "KeyError", id="key-error"),
])
@pytest.mark.parametrize("resource", ["arn", "invoke"])
def test_lambda_exception_becomes_error_named_after_class(exception: Exception, name: str, resource: str) -> None:
    if resource == "arn":
        state = {"Type": "Task", "Resource": lambda_arn("f")}
    else:
        state = {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke",
                 "Parameters": {"FunctionName": "f", "Payload.$": "$"}}
    result = run(machine({"T": {**state, "End": True}}), {}, functions={"f": Flaky(exception)})
    assert (result.status, result.error) == ("FAILED", name)
    cause = json.loads(result.cause)
    assert cause["errorType"] == name
    assert cause["errorMessage"] == str(exception)
    assert isinstance(cause["requestId"], str) and isinstance(cause["stackTrace"], list)
    failed = result.history[-2]
    assert failed["type"] == ("LambdaFunctionFailed" if resource == "arn" else "TaskFailed")
    assert details(failed)["error"] == name


async def _async_raiser(event: Any, context: Any) -> None:
    raise PaymentDeclined("async")


def test_async_lambda_exception() -> None:
    result = run(machine({"T": {"Type": "Task", "Resource": lambda_arn("f"), "End": True}}),
                 functions={"f": _async_raiser})
    assert (result.error, json.loads(result.cause)["errorMessage"]) == ("PaymentDeclined", "async")


@pytest.mark.parametrize("state", [
    pytest.param({"Type": "Task", "Resource": lambda_arn("nope")}, id="function-arn"),
    pytest.param({"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke",
                  "Parameters": {"FunctionName": "nope", "Payload": {}}}, id="lambda-invoke"),
])
def test_missing_local_function_is_resource_not_found(state: dict) -> None:
    definition = machine({"T": {**state, "Catch": [{"ErrorEquals": ["Lambda.ResourceNotFoundException"],
                                                    "ResultPath": "$.err", "Next": "H"}], "End": True},
                          "H": {"Type": "Pass", "OutputPath": "$.err", "End": True}})
    result = run(definition, {}, functions={"other": Flaky()})
    assert result.output["Error"] == "Lambda.ResourceNotFoundException"
    assert "function:nope" in result.output["Cause"]


def test_lambda_returning_non_json_fails_the_task() -> None:
    result = run(machine({"T": {"Type": "Task", "Resource": lambda_arn("f"), "End": True}}),
                 functions={"f": lambda event, context: {1, 2}})
    assert result.status == "FAILED"
    assert "not JSON" in result.cause


@pytest.mark.parametrize(("result", "error"), [
    pytest.param({1, 2}, "States.Runtime", id="not-json"),
    pytest.param(BIG, "States.DataLimitExceeded", id="too-big"),
])
def test_unusable_task_result_from_any_integration_fails_the_task(result: Any, error: str) -> None:
    """Drive the interpreter directly, as any integration would: the task fails instead of waiting forever."""
    from datetime import datetime, timezone

    from stepline.engine.effects import InvokeTask
    from stepline.engine.interpreter import Execution
    from stepline.engine.program import compile_definition

    now = datetime(2024, 1, 1, tzinfo=timezone.utc)
    definition = machine({"T": {"Type": "Task", "Resource": "arn:aws:states:::sqs:sendMessage", "End": True}})
    execution = Execution(compile_definition(definition), input={}, execution_arn="arn:e", name="e",
                          state_machine_arn="arn:m", state_machine_name="m", role_arn="arn:r", start_time=now)
    invoke, = (e for e in execution.start(now) if isinstance(e, InvokeTask))
    execution.task_succeeded(invoke.thread, invoke.token, result, now)
    assert (execution.status, execution.error) == ("FAILED", error)
    assert [e["type"] for e in execution.events][-2:] == ["TaskFailed", "ExecutionFailed"]


class Crashing(Integration):
    """An integration with a bug: it raises something other than StatesError."""

    name = "crashing"

    def handles(self, call: Any) -> bool:
        return True

    async def invoke(self, call: Any) -> Any:
        raise IndexError("list index out of range")


@pytest.mark.parametrize(("integrations", "state", "error", "fragment"), [
    pytest.param([Crashing()], {"Type": "Task", "Resource": "arn:aws:states:::sqs:sendMessage"},
                 "States.TaskFailed", "IndexError: list index out of range", id="integration-raises"),
    pytest.param([], {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke",
                      "Parameters": {"FunctionName": "arn:aws:lambda:us-east-1"}},
                 "Lambda.ResourceNotFoundException", "Function not found", id="malformed-function-arn"),
    pytest.param([], {"Type": "Task", "Resource": "arn:aws:states:::nosuch:thing"}, "States.Runtime",
                 "No integration handles", id="no-integration"),
])
def test_broken_tasks_fail_the_execution_instead_of_hanging(integrations: list, state: dict, error: str,
                                                             fragment: str) -> None:
    workflow = Workflow(machine({"T": {**state, "End": True}}))
    result = asyncio.run(asyncio.wait_for(workflow.run_async({}, time_scale=0, integrations=integrations), 5))
    assert (result.status, result.error) == ("FAILED", error)
    assert fragment in result.cause


@pytest.mark.parametrize(("fields", "error", "fragment"), [
    ({"TimeoutSeconds": 3600}, "States.Timeout", None),
    ({}, "States.Runtime", "nothing can send to an execution run in process"),
], ids=["times-out-in-virtual-time", "nothing-can-answer"])
def test_a_callback_task_run_in_process_ends(fields: dict, error: str, fragment: str | None) -> None:
    workflow = Workflow(machine({"Wait for it": {
        "Type": "Task", "Resource": "arn:aws:states:::lambda:invoke.waitForTaskToken", "End": True,
        "Parameters": {"FunctionName": "notify", "Payload": {"token.$": "$$.Task.Token"}}, **fields}}),
        functions={"notify": lambda event, context: None})
    result = asyncio.run(asyncio.wait_for(workflow.run_async({}, time_scale=0), 10))
    assert (result.status, result.error) == ("FAILED", error)
    assert fragment is None or fragment in result.cause
    assert "TaskSubmitted" in result.event_types()
