"""Every state type end to end through Workflow.run, under the virtual clock, with the history checked."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from support import details, events_of, lambda_arn, machine, run

from stepline.engine.interpreter import Execution
from stepline.engine.effects import CancelTask, InvokeTask
from stepline.engine.program import compile_definition
from stepline.engine.timestamps import format_timestamp

YEAR = timedelta(days=365)
START = datetime(2024, 1, 1, tzinfo=timezone.utc)

# ---------------------------------------------------------------------------------------------------------------
# Pass: the JSONPath data flow (InputPath -> Parameters/Result -> ResultPath -> OutputPath)

DOC = {"a": 1, "b": {"c": 2}}


@pytest.mark.parametrize(("fields", "expected"), [
    pytest.param({}, DOC, id="no-fields-passes-input"),
    pytest.param({"Result": {"x": 1}}, {"x": 1}, id="result-replaces-input"),
    pytest.param({"Result": "text"}, "text", id="result-scalar"),
    pytest.param({"Result": None}, None, id="result-null"),
    pytest.param({"Result": {"x": 1}, "ResultPath": "$.r"}, {**DOC, "r": {"x": 1}}, id="result-path-adds-field"),
    pytest.param({"Result": 5, "ResultPath": "$.b.c"}, {"a": 1, "b": {"c": 5}}, id="result-path-replaces-nested"),
    pytest.param({"Result": 5, "ResultPath": "$.n.m"}, {**DOC, "n": {"m": 5}}, id="result-path-creates-nested"),
    pytest.param({"Result": 5, "ResultPath": None}, DOC, id="result-path-null-discards-result"),
    pytest.param({"Result": 5, "ResultPath": "$"}, 5, id="result-path-root"),
    pytest.param({"InputPath": "$.b"}, {"c": 2}, id="input-path"),
    pytest.param({"InputPath": None}, {}, id="input-path-null-gives-empty-object"),
    pytest.param({"OutputPath": "$.b.c"}, 2, id="output-path"),
    pytest.param({"OutputPath": None}, {}, id="output-path-null-gives-empty-object"),
    pytest.param({"Parameters": {"x.$": "$.a", "y": "lit", "ctx.$": "$$.State.Name"}},
                 {"x": 1, "y": "lit", "ctx": "P"}, id="parameters-template-and-context"),
    pytest.param({"InputPath": "$.b", "Parameters": {"v.$": "$.c"}}, {"v": 2}, id="input-path-then-parameters"),
    pytest.param({"InputPath": "$.b", "Result": 9, "ResultPath": "$.r"}, {**DOC, "r": 9},
                 id="result-path-applies-to-raw-input"),
    pytest.param({"Parameters": {"s.$": "States.Format('{}-{}', $.a, $.b.c)"}}, {"s": "1-2"}, id="parameters-intrinsic"),
    pytest.param({"Result": {"x": 1}, "ResultPath": "$.r", "OutputPath": "$.r"}, {"x": 1}, id="result-then-output-path"),
    # forms published state machines use and AWS accepts: an unquoted word in a filter, a trailing blank
    pytest.param({"Parameters": {"v.$": "$..b[?(@.c==x)]", "n.$": "$$.State.Name ", "w.$": "$.b[?(@.c==2)]"}},
                 {"v": [], "n": "P", "w": [{"c": 2}]}, id="parameters-unquoted-filter-word-and-trailing-blank"),
    pytest.param({"InputPath": "$.b ", "OutputPath": "$.c "}, 2, id="paths-with-trailing-blank"),
])
def test_pass_data_flow(fields: dict, expected: Any) -> None:
    result = run(machine({"P": {"Type": "Pass", **fields, "End": True}}), DOC)
    assert result.status == "SUCCEEDED"
    assert result.output == expected
    assert result.event_types() == ["ExecutionStarted", "PassStateEntered", "PassStateExited", "ExecutionSucceeded"]


def test_pass_history_details_and_chaining() -> None:
    definition = machine({
        "One": {"Type": "Pass", "Result": 1, "ResultPath": "$.one", "Next": "Two"},
        "Two": {"Type": "Pass", "Parameters": {"sum.$": "States.MathAdd($.one, $.base)"}, "End": True},
    })
    result = run(definition, {"base": 41})
    assert result.output == {"sum": 42}
    entered = events_of(result.history, "PassStateEntered")
    assert [details(e)["name"] for e in entered] == ["One", "Two"]
    assert details(entered[1])["input"] == '{"base":41,"one":1}'
    assert [e["previousEventId"] for e in result.history] == [0, 0, 2, 3, 4, 5]
    assert details(result.history[-1])["output"] == '{"sum":42}'
    assert result.output_text == '{"sum":42}'


def test_missing_input_path_value_is_runtime_error() -> None:
    result = run(machine({"P": {"Type": "Pass", "InputPath": "$.nothing", "End": True}}), {"a": 1})
    assert result.status == "FAILED"
    assert result.error == "States.Runtime"
    assert "$.nothing" in result.cause


# ---------------------------------------------------------------------------------------------------------------
# Task: local functions for Lambda ARNs and lambda:invoke


def double(event: dict, context: Any) -> dict:
    return {"value": event["value"] * 2, "function": context.function_name}


def test_task_lambda_arn_calls_local_function() -> None:
    definition = machine({"T": {"Type": "Task", "Resource": lambda_arn("double"), "ResultPath": "$.out",
                                "End": True}})
    result = run(definition, {"value": 21}, functions={"double": double})
    assert result.status == "SUCCEEDED"
    assert result.output == {"value": 21, "out": {"value": 42, "function": "double"}}
    assert result.event_types() == [
        "ExecutionStarted", "TaskStateEntered", "LambdaFunctionScheduled", "LambdaFunctionStarted",
        "LambdaFunctionSucceeded", "TaskStateExited", "ExecutionSucceeded"]
    scheduled = details(result.history[2])
    assert scheduled["resource"] == lambda_arn("double")
    assert scheduled["input"] == '{"value":21}'


@pytest.mark.parametrize("function_name", [
    pytest.param("double", id="plain-name"),
    pytest.param(lambda_arn("double"), id="function-arn"),
    pytest.param(lambda_arn("double") + ":$LATEST", id="qualified-arn"),
    pytest.param("double:$LATEST", id="name-with-qualifier"),
    pytest.param("123456789012:function:double", id="partial-arn"),
])
def test_task_lambda_invoke_result_shape(function_name: str) -> None:
    definition = machine({"T": {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke",
                                "Parameters": {"FunctionName": function_name, "Payload": {"value.$": "$.v"}},
                                "End": True}})
    result = run(definition, {"v": 4}, functions={"double": double})
    assert result.status == "SUCCEEDED", result.cause
    output = result.output
    assert output["Payload"] == {"value": 8, "function": "double"}
    assert output["StatusCode"] == 200
    assert output["ExecutedVersion"] == "$LATEST"
    assert output["SdkHttpMetadata"]["HttpStatusCode"] == 200
    assert output["SdkResponseMetadata"]["RequestId"] == output["SdkHttpMetadata"]["HttpHeaders"]["x-amzn-RequestId"]
    assert result.event_types()[2:5] == ["TaskScheduled", "TaskStarted", "TaskSucceeded"]
    scheduled = details(result.history[2])
    assert (scheduled["resourceType"], scheduled["resource"]) == ("lambda", "invoke")


def test_consecutive_tasks_record_their_own_resources() -> None:
    """Each Task's history events name its own resource, not the previous Task's on the same thread."""
    definition = machine({
        "A": {"Type": "Task", "Resource": lambda_arn("double"), "Next": "B"},
        "B": {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke",
              "Parameters": {"FunctionName": "double", "Payload": {"value.$": "$.value"}}, "Next": "C"},
        "C": {"Type": "Task", "Resource": lambda_arn("triple"), "InputPath": "$.Payload", "End": True},
    })
    result = run(definition, {"value": 1}, functions={"double": double, "triple": lambda e, c: e["value"] * 3})
    assert result.output == 12
    assert [t for t in result.event_types() if t.startswith(("Lambda", "Task")) and "State" not in t] == [
        "LambdaFunctionScheduled", "LambdaFunctionStarted", "LambdaFunctionSucceeded",
        "TaskScheduled", "TaskStarted", "TaskSucceeded",
        "LambdaFunctionScheduled", "LambdaFunctionStarted", "LambdaFunctionSucceeded"]
    scheduled = [details(e).get("resource") for e in result.history if e["type"].endswith("Scheduled")]
    assert scheduled == [lambda_arn("double"), "invoke", lambda_arn("triple")]


def test_task_async_function_and_result_selector() -> None:
    async def fetch(event: dict, context: Any) -> dict:
        await asyncio.sleep(0)
        return {"items": [1, 2, 3], "noise": "x"}

    definition = machine({"T": {"Type": "Task", "Resource": lambda_arn("fetch"),
                                "ResultSelector": {"n.$": "States.ArrayLength($.items)"}, "End": True}})
    result = run(definition, {}, functions={"fetch": fetch})
    assert result.output == {"n": 3}


# ---------------------------------------------------------------------------------------------------------------
# Choice

CHOICE = machine({
    "C": {"Type": "Choice", "Choices": [
        {"Variable": "$.n", "NumericGreaterThan": 10, "Next": "Big"},
        {"Variable": "$.n", "NumericGreaterThan": 0, "Next": "Small"},
    ], "Default": "Other"},
    "Big": {"Type": "Pass", "Result": "big", "End": True},
    "Small": {"Type": "Pass", "Result": "small", "End": True},
    "Other": {"Type": "Pass", "Result": "other", "End": True},
})


@pytest.mark.parametrize(("n", "expected"), [
    pytest.param(11, "big", id="first-match-wins"),
    pytest.param(5, "small", id="second-rule"),
    pytest.param(-1, "other", id="default"),
])
def test_choice_branches(n: int, expected: str) -> None:
    result = run(CHOICE, {"n": n})
    assert result.output == expected
    assert result.event_types()[1:3] == ["ChoiceStateEntered", "ChoiceStateExited"]


def test_choice_without_default_fails_with_no_choice_matched() -> None:
    definition = machine({
        "C": {"Type": "Choice", "Choices": [{"Variable": "$.n", "NumericEquals": 1, "Next": "P"}]},
        "P": {"Type": "Pass", "End": True},
    })
    result = run(definition, {"n": 2})
    assert (result.status, result.error) == ("FAILED", "States.NoChoiceMatched")
    assert "'C'" in result.cause
    assert result.event_types() == ["ExecutionStarted", "ChoiceStateEntered", "ExecutionFailed"]


def test_choice_output_path_applies_to_chosen_branch() -> None:
    definition = machine({
        "C": {"Type": "Choice", "InputPath": "$.in", "OutputPath": "$.keep",
              "Choices": [{"Variable": "$.flag", "BooleanEquals": True, "Next": "P"}]},
        "P": {"Type": "Pass", "End": True},
    })
    assert run(definition, {"in": {"flag": True, "keep": [1]}}).output == [1]


# ---------------------------------------------------------------------------------------------------------------
# Wait: the virtual clock makes a year instant, and the history shows the year


def _wait_events(result: Any) -> tuple[dict, dict]:
    entered, = events_of(result.history, "WaitStateEntered")
    exited, = events_of(result.history, "WaitStateExited")
    return entered, exited


@pytest.mark.parametrize(("fields", "input"), [
    pytest.param({"Seconds": 31_536_000}, {"x": 1}, id="seconds"),
    pytest.param({"SecondsPath": "$.s"}, {"s": 31_536_000}, id="seconds-path"),
])
def test_wait_one_year_seconds(fields: dict, input: dict) -> None:
    result = run(machine({"W": {"Type": "Wait", **fields, "End": True}}), input)
    assert result.status == "SUCCEEDED"
    assert result.output == input
    entered, exited = _wait_events(result)
    assert exited["timestamp"] - entered["timestamp"] == YEAR
    assert result.stop_date - result.start_date == YEAR


@pytest.mark.parametrize("path", [pytest.param(False, id="timestamp"), pytest.param(True, id="timestamp-path")])
def test_wait_until_timestamp_one_year_ahead(path: bool) -> None:
    due = (datetime.now(timezone.utc) + YEAR).replace(microsecond=0)
    text = due.strftime("%Y-%m-%dT%H:%M:%SZ")
    fields = {"TimestampPath": "$.at"} if path else {"Timestamp": text}
    result = run(machine({"W": {"Type": "Wait", **fields, "End": True}}), {"at": text})
    assert result.status == "SUCCEEDED"
    _, exited = _wait_events(result)
    assert exited["timestamp"] == due
    assert result.stop_date == due


def test_wait_timestamp_in_the_past_does_not_wait() -> None:
    result = run(machine({"W": {"Type": "Wait", "Timestamp": "2001-01-01T00:00:00Z", "End": True}}))
    entered, exited = _wait_events(result)
    assert exited["timestamp"] == entered["timestamp"]


def test_wait_context_entered_time_moves_with_virtual_clock() -> None:
    definition = machine({
        "W": {"Type": "Wait", "Seconds": 3600, "Next": "P"},
        "P": {"Type": "Pass", "Parameters": {"entered.$": "$$.State.EnteredTime", "start.$": "$$.Execution.StartTime"},
              "End": True},
    })
    result = run(definition)
    entered = datetime.fromisoformat(result.output["entered"])
    start = datetime.fromisoformat(result.output["start"])
    assert timedelta(hours=1) - timedelta(milliseconds=1) <= entered - start <= timedelta(hours=1) + timedelta(milliseconds=1)


@pytest.mark.parametrize(("fields", "input", "fragment"), [
    pytest.param({"SecondsPath": "$.s"}, {"s": -1}, "negative", id="negative-seconds-path"),
    pytest.param({"SecondsPath": "$.s"}, {"s": "ten"}, "cannot be parsed", id="text-seconds-path"),
    pytest.param({"SecondsPath": "$.missing"}, {}, "does not reference", id="missing-seconds-path"),
    pytest.param({"TimestampPath": "$.t"}, {"t": "tomorrow"}, "ISO-8601", id="bad-timestamp-path"),
])
def test_wait_bad_path_values_are_runtime_errors(fields: dict, input: dict, fragment: str) -> None:
    result = run(machine({"W": {"Type": "Wait", **fields, "End": True}}), input)
    assert (result.status, result.error) == ("FAILED", "States.Runtime")
    assert fragment in result.cause


def test_wait_then_task_sequence_under_virtual_clock() -> None:
    calls: list[str] = []

    def tick(event: Any, context: Any) -> int:
        calls.append("tick")
        return len(calls)

    definition = machine({
        "W1": {"Type": "Wait", "Seconds": 86_400, "Next": "T"},
        "T": {"Type": "Task", "Resource": lambda_arn("tick"), "Next": "W2"},
        "W2": {"Type": "Wait", "Seconds": 86_400, "End": True},
    })
    result = run(definition, functions={"tick": tick})
    assert result.output == 1
    task_time = events_of(result.history, "LambdaFunctionScheduled")[0]["timestamp"]
    assert task_time - result.start_date == timedelta(days=1)
    assert result.stop_date - result.start_date == timedelta(days=2)


# ---------------------------------------------------------------------------------------------------------------
# Succeed and Fail


@pytest.mark.parametrize(("fields", "expected"), [
    pytest.param({}, {"a": 1, "b": {"c": 2}}, id="passes-input"),
    pytest.param({"InputPath": "$.b"}, {"c": 2}, id="input-path"),
    pytest.param({"OutputPath": "$.a"}, 1, id="output-path"),
])
def test_succeed(fields: dict, expected: Any) -> None:
    result = run(machine({"S": {"Type": "Succeed", **fields}}), DOC)
    assert (result.status, result.output) == ("SUCCEEDED", expected)
    assert result.event_types() == ["ExecutionStarted", "SucceedStateEntered", "SucceedStateExited",
                                    "ExecutionSucceeded"]


@pytest.mark.parametrize(("fields", "error", "cause"), [
    pytest.param({"Error": "Oops", "Cause": "because"}, "Oops", "because", id="error-and-cause"),
    pytest.param({"Error": "Oops"}, "Oops", None, id="error-only"),
    pytest.param({}, None, None, id="neither"),
    pytest.param({"ErrorPath": "$.e", "CausePath": "$.c"}, "FromInput", "told so", id="paths"),
    pytest.param({"ErrorPath": "States.Format('E{}', $.n)", "CausePath": "States.Format('n is {}', $.n)"},
                 "E7", "n is 7", id="intrinsic-paths"),
])
def test_fail(fields: dict, error: str | None, cause: str | None) -> None:
    result = run(machine({"F": {"Type": "Fail", **fields}}), {"e": "FromInput", "c": "told so", "n": 7})
    assert (result.status, result.error, result.cause) == ("FAILED", error, cause)
    assert result.output is None
    assert result.event_types() == ["ExecutionStarted", "FailStateEntered", "ExecutionFailed"]
    assert details(result.history[-1]) == {k: v for k, v in (("error", error), ("cause", cause)) if v is not None}


# ---------------------------------------------------------------------------------------------------------------
# Parallel


def _branch(name: str, state: dict) -> dict:
    return {"StartAt": name, "States": {name: {**state, "End": True}}}


def test_parallel_outputs_in_branch_order() -> None:
    order: list[str] = []

    async def slow(event: Any, context: Any) -> str:
        for _ in range(5):
            await asyncio.sleep(0)
        order.append("slow")
        return "slow"

    async def fast(event: Any, context: Any) -> str:
        order.append("fast")
        return "fast"

    definition = machine({"P": {"Type": "Parallel", "Branches": [
        _branch("A", {"Type": "Task", "Resource": lambda_arn("slow")}),
        _branch("B", {"Type": "Task", "Resource": lambda_arn("fast")}),
        _branch("C", {"Type": "Pass", "Parameters": {"got.$": "$.x"}}),
    ], "ResultPath": "$.results", "End": True}})
    result = run(definition, {"x": 1}, functions={"slow": slow, "fast": fast})
    assert result.status == "SUCCEEDED"
    assert order == ["fast", "slow"]
    assert result.output == {"x": 1, "results": ["slow", "fast", {"got": 1}]}
    types = result.event_types()
    assert types[1:3] == ["ParallelStateEntered", "ParallelStateStarted"]
    assert types[-3:] == ["ParallelStateSucceeded", "ParallelStateExited", "ExecutionSucceeded"]


def test_parallel_failed_branch_fails_state_and_stops_the_others() -> None:
    cancelled: list[str] = []

    async def hang(event: Any, context: Any) -> str:
        try:
            await asyncio.Event().wait()  # never set: only a cancellation ends it
        except asyncio.CancelledError:
            cancelled.append("hang")
            raise
        return "never"

    def boom(event: Any, context: Any) -> None:
        raise ValueError("bad branch")

    def report(event: Any, context: Any) -> dict:
        return {"cancelled_before_next_state": list(cancelled), "error": event["failure"]["Error"]}

    definition = machine({
        "P": {"Type": "Parallel", "Branches": [
            _branch("Hang", {"Type": "Task", "Resource": lambda_arn("hang")}),
            _branch("Boom", {"Type": "Task", "Resource": lambda_arn("boom")}),
            _branch("Later", {"Type": "Wait", "Seconds": 60}),
        ], "Catch": [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.failure", "Next": "Report"}], "Next": "Done"},
        "Report": {"Type": "Task", "Resource": lambda_arn("report"), "End": True},
        "Done": {"Type": "Succeed"},
    })
    result = run(definition, {}, functions={"hang": hang, "boom": boom, "report": report})
    assert result.status == "SUCCEEDED", result.cause
    assert result.output == {"cancelled_before_next_state": ["hang"], "error": "ValueError"}
    types = result.event_types()
    assert "ParallelStateFailed" in types and "ParallelStateSucceeded" not in types
    assert "WaitStateExited" not in types  # the waiting branch never resumed
    assert types.count("LambdaFunctionSucceeded") == 1  # only Report's
    # nothing but the catcher's path happened after the failure
    failed_at = types.index("LambdaFunctionFailed")
    assert types[failed_at:] == ["LambdaFunctionFailed", "ParallelStateFailed", "ParallelStateExited",
                                 "TaskStateEntered", "LambdaFunctionScheduled", "LambdaFunctionStarted",
                                 "LambdaFunctionSucceeded", "TaskStateExited", "ExecutionSucceeded"]
    assert result.stop_date == result.start_date  # the 60 s Wait was abandoned, not waited for


def test_parallel_late_results_of_aborted_branches_are_ignored() -> None:
    """Drive the interpreter directly: results that arrive for a branch after the Parallel failed change nothing."""
    definition = machine({"P": {"Type": "Parallel", "Branches": [
        _branch("A", {"Type": "Task", "Resource": lambda_arn("a")}),
        _branch("B", {"Type": "Task", "Resource": lambda_arn("b")}),
    ], "End": True}})
    execution = _execution(definition)
    effects = execution.start(START)
    a, b = (e for e in effects if isinstance(e, InvokeTask))
    effects = execution.task_failed(b.thread, b.token, "Boom", "b failed", START)
    assert CancelTask(thread=a.thread, token=a.token) in effects
    assert execution.status == "FAILED" and execution.error == "Boom"
    count = len(execution.events)
    assert execution.task_succeeded(a.thread, a.token, {"late": True}, START + timedelta(seconds=1)) == []
    assert execution.task_failed(a.thread, a.token, "Late", None, START) == []
    assert len(execution.events) == count


def test_parallel_branch_results_arriving_after_a_caught_failure_are_ignored() -> None:
    definition = machine({
        "P": {"Type": "Parallel", "Branches": [
            _branch("A", {"Type": "Task", "Resource": lambda_arn("a")}),
            _branch("B", {"Type": "Task", "Resource": lambda_arn("b")}),
        ], "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "After"}], "End": True},
        "After": {"Type": "Task", "Resource": lambda_arn("after"), "End": True},
    })
    execution = _execution(definition)
    a, b = (e for e in execution.start(START) if isinstance(e, InvokeTask))
    effects = execution.task_failed(b.thread, b.token, "Boom", None, START)
    after, = (e for e in effects if isinstance(e, InvokeTask))
    assert after.state_name == "After"
    count = len(execution.events)
    assert execution.task_succeeded(a.thread, a.token, "late", START) == []
    assert len(execution.events) == count
    execution.task_succeeded(after.thread, after.token, "done", START)
    assert (execution.status, execution.output) == ("SUCCEEDED", "done")


def _execution(definition: dict) -> Execution:
    arn = "arn:aws:states:us-east-1:123456789012:execution:m:e"
    return Execution(compile_definition(definition), input={}, execution_arn=arn, name="e",
                     state_machine_arn="arn:aws:states:us-east-1:123456789012:stateMachine:m", state_machine_name="m",
                     role_arn="arn:aws:iam::123456789012:role/r", start_time=START)


# ---------------------------------------------------------------------------------------------------------------
# Map


def _map(processor_states: dict, **fields: Any) -> dict:
    return machine({"M": {"Type": "Map", "ItemProcessor": {"StartAt": next(iter(processor_states)),
                                                            "States": processor_states}, **fields, "End": True}})


def test_map_results_in_item_order_whatever_the_finishing_order() -> None:
    finished: list[int] = []

    async def work(event: int, context: Any) -> int:
        for _ in range(10 - event):  # later items finish first
            await asyncio.sleep(0)
        finished.append(event)
        return event * 10

    definition = _map({"T": {"Type": "Task", "Resource": lambda_arn("work"), "End": True}})
    result = run(definition, [1, 2, 3, 4, 5], functions={"work": work})
    assert finished == [5, 4, 3, 2, 1]
    assert result.output == [10, 20, 30, 40, 50]
    types = result.event_types()
    assert types[1:3] == ["MapStateEntered", "MapStateStarted"]
    assert types.count("MapIterationStarted") == types.count("MapIterationSucceeded") == 5
    assert details(events_of(result.history, "MapStateStarted")[0]) == {"length": 5}
    assert types[-3:] == ["MapStateSucceeded", "MapStateExited", "ExecutionSucceeded"]


@pytest.mark.parametrize(("max_concurrency", "items", "expected_peak"), [
    pytest.param(1, 6, 1, id="one-at-a-time"),
    pytest.param(3, 10, 3, id="three"),
    pytest.param(0, 7, 7, id="zero-means-unbounded"),
    pytest.param(20, 5, 5, id="more-than-items"),
])
def test_map_max_concurrency_bounds_running_functions(max_concurrency: int, items: int, expected_peak: int) -> None:
    running = 0
    peak = 0

    async def work(event: int, context: Any) -> int:
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        for _ in range(3):
            await asyncio.sleep(0)
        running -= 1
        return event

    definition = _map({"T": {"Type": "Task", "Resource": lambda_arn("work"), "End": True}},
                      MaxConcurrency=max_concurrency)
    result = run(definition, list(range(items)), functions={"work": work})
    assert result.output == list(range(items))
    assert peak == expected_peak


def test_map_max_concurrency_path() -> None:
    running = peak = 0

    async def work(event: int, context: Any) -> int:
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        await asyncio.sleep(0)
        running -= 1
        return event

    definition = _map({"T": {"Type": "Task", "Resource": lambda_arn("work"), "End": True}},
                      ItemsPath="$.items", MaxConcurrencyPath="$.limit")
    result = run(definition, {"items": list(range(8)), "limit": 2}, functions={"work": work})
    assert result.output == list(range(8))
    assert peak == 2


@pytest.mark.parametrize(("selector_key", "processor_key"), [
    pytest.param("ItemSelector", "ItemProcessor", id="item-selector"),
    pytest.param("Parameters", "Iterator", id="legacy-parameters-iterator"),
])
def test_map_item_selector_with_context_index_and_value(selector_key: str, processor_key: str) -> None:
    definition = machine({"M": {
        "Type": "Map", "ItemsPath": "$.things",
        selector_key: {"index.$": "$$.Map.Item.Index", "value.$": "$$.Map.Item.Value", "tag.$": "$.tag"},
        processor_key: {"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}},
        "ResultPath": "$.out", "End": True}})
    result = run(definition, {"things": ["a", {"b": 1}], "tag": "t"})
    assert result.output["out"] == [{"index": 0, "value": "a", "tag": "t"},
                                    {"index": 1, "value": {"b": 1}, "tag": "t"}]


def test_map_empty_array() -> None:
    result = run(_map({"P": {"Type": "Pass", "End": True}}), [])
    assert result.output == []
    assert "MapIterationStarted" not in result.event_types()
    assert result.event_types()[-3:] == ["MapStateSucceeded", "MapStateExited", "ExecutionSucceeded"]


def test_map_input_not_an_array_is_runtime_error() -> None:
    result = run(_map({"P": {"Type": "Pass", "End": True}}, ItemsPath="$.x"), {"x": {"not": "array"}})
    assert (result.status, result.error) == ("FAILED", "States.Runtime")


def test_map_iteration_failure_fails_the_map_and_aborts_the_rest() -> None:
    async def work(event: int, context: Any) -> int:
        if event == 2:
            raise RuntimeError("item 2")
        await asyncio.Event().wait()  # the other items never finish on their own
        return event

    definition = _map({"T": {"Type": "Task", "Resource": lambda_arn("work"), "End": True}}, MaxConcurrency=3)
    result = run(definition, [0, 1, 2, 3, 4], functions={"work": work})
    assert (result.status, result.error) == ("FAILED", "RuntimeError")
    types = result.event_types()
    assert types.count("MapIterationStarted") == 3  # items 3 and 4 never started
    assert types.count("MapIterationFailed") == 1
    assert types.count("MapIterationAborted") == 2
    assert types[-2:] == ["MapStateFailed", "ExecutionFailed"]


@pytest.mark.parametrize("max_concurrency", [pytest.param(0, id="all-at-once"), pytest.param(1, id="one-at-a-time")])
def test_map_item_selector_failure_on_a_later_item_fails_the_map(max_concurrency: int) -> None:
    """With MaxConcurrency 1 the second item's selector runs only after the first item finished."""
    definition = _map({"P": {"Type": "Pass", "End": True}}, MaxConcurrency=max_concurrency,
                      ItemSelector={"v.$": "$$.Map.Item.Value.x"})
    result = run(definition, [{"x": 1}, {"y": 2}])
    assert (result.status, result.error) == ("FAILED", "States.Runtime")
    assert "'M'" in result.cause and "$$.Map.Item.Value.x" in result.cause
    assert result.event_types()[-2:] == ["MapStateFailed", "ExecutionFailed"]


@pytest.mark.parametrize("max_concurrency", [pytest.param(0, id="all-at-once"), pytest.param(1, id="one-at-a-time")])
def test_map_item_selector_failure_can_be_caught(max_concurrency: int) -> None:
    definition = machine({
        "M": {"Type": "Map", "QueryLanguage": "JSONata", "MaxConcurrency": max_concurrency,
              "ItemSelector": "{% $number($states.context.Map.Item.Value) %}",
              "ItemProcessor": {"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}},
              "Catch": [{"ErrorEquals": ["States.QueryEvaluationError"], "Next": "H"}], "End": True},
        "H": {"Type": "Pass", "End": True}})
    result = run(definition, ["1", "x"])
    assert result.status == "SUCCEEDED"
    assert result.output["Error"] == "States.QueryEvaluationError"
    assert "D3030" in result.output["Cause"]
    assert result.event_types()[-5:] == ["MapStateFailed", "MapStateExited", "PassStateEntered", "PassStateExited",
                                         "ExecutionSucceeded"]


def _distributed(items_fail: set[int], **fields: Any) -> dict:
    return machine({"M": {"Type": "Map", "ItemProcessor": {
        "ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"}, "StartAt": "T",
        "States": {"T": {"Type": "Task", "Resource": lambda_arn("work"), "End": True}}}, **fields, "End": True}})


@pytest.mark.parametrize(("fields", "failing", "status"), [
    pytest.param({"ToleratedFailureCount": 2}, {1, 3}, "SUCCEEDED", id="count-at-threshold"),
    pytest.param({"ToleratedFailureCount": 1}, {1, 3}, "FAILED", id="count-exceeded"),
    pytest.param({"ToleratedFailureCount": 0}, {1}, "FAILED", id="count-zero"),
    pytest.param({"ToleratedFailurePercentage": 50}, {0, 1}, "SUCCEEDED", id="percentage-at-threshold"),
    pytest.param({"ToleratedFailurePercentage": 25}, {0, 1}, "FAILED", id="percentage-exceeded"),
    pytest.param({"ToleratedFailurePercentage": 100}, {0, 1, 2, 3}, "SUCCEEDED", id="percentage-all"),
    pytest.param({"ToleratedFailureCount": 0, "ToleratedFailurePercentage": 50}, {2}, "SUCCEEDED",
                 id="either-threshold-tolerates"),
    pytest.param({"ToleratedFailureCountPath": "$.n"}, {0}, "SUCCEEDED", id="count-path"),
])
def test_map_tolerated_failures(fields: dict, failing: set[int], status: str) -> None:
    def work(event: dict, context: Any) -> int:
        if event["i"] in failing:
            raise KeyError(event["i"])
        return event["i"]

    definition = _distributed(failing, ItemsPath="$.items", **fields)
    result = run(definition, {"items": [{"i": i} for i in range(4)], "n": 1}, functions={"work": work})
    assert result.status == status, result.cause
    if status == "FAILED":
        assert result.error == "States.ExceedToleratedFailureThreshold"
        assert result.event_types()[-3:] == ["MapRunFailed", "MapStateFailed", "ExecutionFailed"]
    else:
        assert len(result.output) == 4
        assert [result.output[i] for i in range(4) if i not in failing] == [i for i in range(4) if i not in failing]
        assert result.event_types()[-4:] == ["MapRunSucceeded", "MapStateSucceeded", "MapStateExited",
                                             "ExecutionSucceeded"]


def test_nested_map_in_parallel_history_is_well_formed() -> None:
    definition = machine({"P": {"Type": "Parallel", "Branches": [
        {"StartAt": "M", "States": {"M": {"Type": "Map", "ItemsPath": "$.xs", "MaxConcurrency": 2, "ItemProcessor": {
            "StartAt": "W", "States": {"W": {"Type": "Wait", "SecondsPath": "$", "End": True}}}, "End": True}}},
        _branch("Q", {"Type": "Wait", "Seconds": 5}),
    ], "End": True}})
    result = run(definition, {"xs": [3, 1, 2]})
    assert result.output == [[3, 1, 2], {"xs": [3, 1, 2]}]
    # two at a time: 3 and 1 start at 0; 2 starts at 1 and ends at 3; the Map ends at 3, the other branch at 5
    assert result.stop_date - result.start_date == timedelta(seconds=5)


def test_context_object_in_task_parameters() -> None:
    def echo(event: Any, context: Any) -> Any:
        return event

    definition = machine({"T": {"Type": "Task", "Resource": lambda_arn("echo"), "Parameters": {
        "name.$": "$$.Execution.Name", "state.$": "$$.State.Name", "retry.$": "$$.State.RetryCount",
        "machine.$": "$$.StateMachine.Name"}, "End": True}})
    result = run(definition, functions={"echo": echo}, name="exec-1")
    assert result.output == {"name": "exec-1", "state": "T", "retry": 0, "machine": "workflow"}
    assert result.execution_arn.endswith(":execution:workflow:exec-1")
    assert format_timestamp(result.start_date) == format_timestamp(result.history[0]["timestamp"])
