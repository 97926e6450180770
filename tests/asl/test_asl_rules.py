"""Table-driven tests: one row per rule, the diagnostic AWS gives (code, message, location)."""

from __future__ import annotations

from typing import Any

import pytest

from stepline.asl import create_error_message, parse_definition, query_language_of
from stepline.errors import Diagnostic

SCHEMA = "SCHEMA_VALIDATION_FAILED"
TARGET = "MISSING_TRANSITION_TARGET"
END = {"End": True}


def one(state: dict[str, Any], **top: Any) -> dict[str, Any]:
    """A machine whose only state is S."""
    return {"StartAt": "S", "States": {"S": state}, **top}


def task(**fields: Any) -> dict[str, Any]:
    return {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke", "End": True, **fields}


def map_state(**fields: Any) -> dict[str, Any]:
    processor = {"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}}
    return {"Type": "Map", "ItemProcessor": processor, "End": True, **fields}


def jsonata(state: dict[str, Any]) -> dict[str, Any]:
    return one(state, QueryLanguage="JSONata")


NO_END = ("MISSING_END_STATE", "Workflow has no terminal state", "")


def choice(rules: Any, **fields: Any) -> dict[str, Any]:
    """A machine whose state S is a Choice with these rules, defaulting to the Succeed state E."""
    state = {"Type": "Choice", "Default": "E", **({"Choices": rules} if rules is not None else {}), **fields}
    return {"StartAt": "S", "States": {"S": state, "E": {"Type": "Succeed"}}}


def found(definition: Any, machine_type: str = "STANDARD") -> list[tuple[str, str, str]]:
    _, diagnostics = parse_definition(definition, machine_type=machine_type)
    return [(d.code, d.message, d.location) for d in diagnostics]


VALID = [
    pytest.param(one({"Type": "Pass", "End": True}), id="pass"),
    pytest.param(one({"Type": "Pass", "Result": {"a": 1}, "ResultPath": None, "End": True}), id="pass-result"),
    pytest.param(one({"Type": "Succeed", "Comment": "done"}, Comment="c", TimeoutSeconds=10, Version="1.0"),
                 id="top-level-fields"),
    pytest.param(one(task(TimeoutSeconds=10, HeartbeatSeconds=5, Credentials={"RoleArn": "arn:aws:iam::1:role/r"})),
                 id="task-timeouts-credentials"),
    pytest.param(one(task(Credentials={"RoleArn.$": "$.role"})), id="credentials-path"),
    pytest.param(one(task(Retry=[{"ErrorEquals": ["A"], "MaxAttempts": 0, "BackoffRate": 1, "JitterStrategy": "FULL",
                                  "MaxDelaySeconds": 5, "IntervalSeconds": 2},
                                 {"ErrorEquals": ["States.ALL"]}])), id="retry"),
    pytest.param(one({"Type": "Wait", "Timestamp": "2016-03-14T01:59:00.123+01:00", "End": True}), id="wait-offset"),
    pytest.param(one({"Type": "Wait", "Seconds": 0, "End": True}), id="wait-zero"),
    pytest.param(jsonata({"Type": "Wait", "Seconds": "{% $states.input.s %}", "End": True}), id="wait-jsonata-seconds"),
    pytest.param(one({"Type": "Fail", "ErrorPath": "$.e", "Cause": "c"}), id="fail-errorpath"),
    pytest.param(choice([{"Condition": "{% true %}", "Next": "E"}], QueryLanguage="JSONata"), id="choice-jsonata"),
    pytest.param(choice([{"And": [{"Variable": "$.a", "IsNull": False},
                                  {"Not": {"Variable": "$.b", "NumericLessThanEqualsPath": "$.c"}}], "Next": "E"}]),
                 id="choice-nested"),
    pytest.param(one(map_state(MaxConcurrency=9223372036854775807)), id="map-huge-concurrency"),
    pytest.param(one(map_state(Label="my-label", ToleratedFailurePercentage=12.5)), id="map-label"),
    pytest.param({"StartAt": "M", "QueryLanguage": "JSONata", "States": {"M": {
        "Type": "Map", "Items": "{% [1] %}", "ItemProcessor": {"StartAt": "P", "States": {
            "P": {"Type": "Pass", "Output": {"x": "{% 1 %}"}, "End": True}}}, "End": True}}},
        id="jsonata-inherited-by-processor"),
    pytest.param(one({"Type": "Pass", "Assign": {"x": 1}, "End": True}), id="assign-in-jsonpath"),
]


@pytest.mark.parametrize("definition", VALID)
def test_valid_definitions_have_no_diagnostics(definition: dict[str, Any]) -> None:
    assert found(definition) == []


RULES = [
    # top level
    pytest.param({"States": {"S": {"Type": "Pass", "End": True}}},
                 (SCHEMA, "These fields are required: [StartAt]", "/"), id="missing-start-at"),
    pytest.param({"StartAt": "S"}, (SCHEMA, "These fields are required: [States]", "/"), id="missing-states"),
    pytest.param(one({"Type": "Pass", "End": True}, Foo=1), (SCHEMA, "Field 'Foo' is not supported", "/"),
                 id="top-unknown-field"),
    pytest.param({"StartAt": 1, "States": {"A": {"Type": "Succeed"}}}, (SCHEMA, "Expected value of type [STRING]", "/StartAt"),
                 id="start-at-type"),
    pytest.param(one({"Type": "Pass", "End": True}, TimeoutSeconds=0), (SCHEMA, "Minimum value is 1", "/TimeoutSeconds"),
                 id="top-timeout-range"),
    pytest.param(one({"Type": "Pass", "End": True}, QueryLanguage="jsonata"),
                 (SCHEMA, "Value should be one of the following: [JSONPath, JSONata]", "/QueryLanguage"),
                 id="query-language-enum"),
    pytest.param(one({"Type": "Pass", "End": True}, QueryLanguage=5),
                 (SCHEMA, "Expected value of type [STRING]", "/QueryLanguage"), id="query-language-type"),
    # states
    pytest.param(one({"End": True}), (SCHEMA, "These fields are required: [Type]", "/States/S"), id="missing-type"),
    pytest.param(one({"Type": "Nope", "End": True}),
                 (SCHEMA, "The field 'Type' should have one of these values: [Task, Wait, Pass, Succeed, Fail, Choice, "
                          "Parallel, Map]", "/States/S/Type"), id="unknown-type"),
    pytest.param(one([1]), (SCHEMA, "Expected value of type [OBJECT]", "/States/S"), id="state-not-object"),
    pytest.param({"StartAt": "x" * 81, "States": {"x" * 81: {"Type": "Succeed"}}},
                 ("INVALID_STATE_NAME", "State name exceeds the maximum length of 80 characters: " + "x" * 81,
                  "/States/" + "x" * 81), id="state-name-too-long"),
    pytest.param(one({"Type": "Pass", "End": True, "TimeoutSeconds": 5}),
                 (SCHEMA, "Field 'TimeoutSeconds' is not supported", "/States/S"), id="field-not-for-type"),
    pytest.param(one({"Type": "Wait", "Seconds": 1, "End": True, "Retry": []}),
                 (SCHEMA, "Field 'Retry' is not supported", "/States/S"), id="retry-on-wait"),
    pytest.param(one({"Type": "Pass", "End": True, "Catch": []}),
                 (SCHEMA, "Field 'Catch' is not supported", "/States/S"), id="catch-on-pass"),
    pytest.param(one({"Type": "Succeed", "End": True}), (SCHEMA, "Field 'End' is not supported", "/States/S"),
                 id="end-on-succeed"),
    pytest.param(one({"Type": "Pass"}), [(SCHEMA, "One of these fields is required: [Next, End]", "/States/S"),
                                         NO_END], id="no-next-no-end"),
    pytest.param(one({"Type": "Pass", "End": False}), [(SCHEMA, "One of these fields is required: [Next, End]",
                                                        "/States/S"), NO_END], id="end-false"),
    pytest.param(one({"Type": "Pass", "End": "yes"}), [(SCHEMA, "Expected value of type [BOOLEAN]", "/States/S/End"),
                                                       (SCHEMA, "One of these fields is required: [Next, End]",
                                                        "/States/S"), NO_END], id="end-type"),
    pytest.param(one({"Type": "Pass", "InputPath": 3, "End": True}),
                 (SCHEMA, "Expected value of type [STRING, NULL]", "/States/S/InputPath"), id="path-type"),
    pytest.param(one({"Type": "Pass", "Parameters": [1], "End": True}),
                 (SCHEMA, "Expected value of type [OBJECT]", "/States/S/Parameters"), id="parameters-type"),
    # query language
    pytest.param(one({"Type": "Pass", "QueryLanguage": "JSONPath", "End": True}, QueryLanguage="JSONata"),
                 (SCHEMA, "'QueryLanguage' can not be 'JSONPath' if set to 'JSONata' for whole state machine",
                  "/States/S"), id="downgrade"),
    pytest.param(jsonata({"Type": "Pass", "InputPath": "$.a", "End": True}),
                 (SCHEMA, "The QueryLanguage is set to 'JSONata', but field 'InputPath' is only supported for the "
                          "'JSONPath' QueryLanguage", "/States/S"), id="jsonpath-field-in-jsonata"),
    pytest.param(one(task(Arguments={"a": 1})),
                 (SCHEMA, "The QueryLanguage is set to 'JSONPath', but field 'Arguments' is only supported for the "
                          "'JSONata' QueryLanguage", "/States/S"), id="jsonata-field-in-jsonpath"),
    pytest.param(one(map_state(Items=[1])),
                 (SCHEMA, "The QueryLanguage is set to 'JSONPath', but field 'Items' is only supported for the "
                          "'JSONata' QueryLanguage", "/States/S"), id="items-in-jsonpath"),
    pytest.param(jsonata({"Type": "Wait", "SecondsPath": "$.s", "End": True}),
                 (SCHEMA, "The QueryLanguage is set to 'JSONata', but field 'SecondsPath' is only supported for the "
                          "'JSONPath' QueryLanguage", "/States/S"), id="path-field-in-jsonata"),
    pytest.param({"StartAt": "M", "States": {"M": {"Type": "Map", "QueryLanguage": "JSONata", "ItemProcessor": {
        "StartAt": "P", "States": {"P": {"Type": "Pass", "Output": 1, "End": True}}}, "End": True}}},
        (SCHEMA, "The QueryLanguage is set to 'JSONPath', but field 'Output' is only supported for the 'JSONata' "
                 "QueryLanguage", "/States/M/ItemProcessor/States/P"), id="map-language-not-inherited"),
    pytest.param(one(map_state(ItemProcessor={"QueryLanguage": "JSONata", "StartAt": "P",
                                              "States": {"P": {"Type": "Succeed"}}})),
                 (SCHEMA, "Field 'QueryLanguage' is not supported", "/States/S/ItemProcessor"),
                 id="processor-query-language"),
    # transitions
    pytest.param({"StartAt": "A", "States": {"A": {"Type": "Pass", "Next": "B"}, "C": {"Type": "Succeed"}}},
                 [(TARGET, "Missing 'Next' target: B", "/States/A/Next"),
                  (TARGET, 'State "C" is not reachable.', "/States/C")], id="missing-next-target"),
    pytest.param({"StartAt": "A", "States": {"A": {"Type": "Pass", "End": True}, "B": {"Type": "Pass", "End": True}}},
                 (TARGET, 'State "B" is not reachable.', "/States/B"), id="unreachable"),
    pytest.param({"StartAt": "A", "States": {"A": {"Type": "Pass", "Next": "B"}, "B": {"Type": "Pass", "Next": "A"}}},
                 ("MISSING_END_STATE", "Workflow has no terminal state", ""), id="no-terminal-state"),
    pytest.param({"StartAt": "Nope", "States": {"A": {"Type": "Succeed"}}},
                 [(TARGET, "Missing 'Next' target: Nope", "/StartAt"),
                  (TARGET, 'State "A" is not reachable.', "/States/A")], id="start-at-target"),
    pytest.param(choice([{"Variable": "$.x", "IsPresent": True, "Next": "G"}]),
                 (TARGET, "Missing 'Next' target: G", "/States/S/Choices[0]/Next"), id="choice-next-target"),
    pytest.param(one(task(Catch=[{"ErrorEquals": ["States.ALL"], "Next": "G"}])),
                 (TARGET, "Missing 'Next' target: G", "/States/S/Catch[0]/Next"), id="catch-next-target"),
    pytest.param(one({"Type": "Parallel", "End": True, "Branches": [{"StartAt": "W", "States": {
        "W": {"Type": "Succeed"}, "G": {"Type": "Succeed"}}}]}),
        (TARGET, 'State "G" is not reachable.', "/States/S/Branches[0]/States/G"), id="unreachable-in-branch"),
    # Task
    pytest.param(one({"Type": "Task", "End": True}), (SCHEMA, "These fields are required: [Resource]", "/States/S"),
                 id="task-resource-required"),
    pytest.param(one(task(Resource="arn:aws:states:::dynamodb:query")),
                 (SCHEMA, "The resource provided arn:aws:states:::dynamodb:query is not recognized. The value is not a "
                          "valid resource ARN, or the resource is not available in this region.",
                  "/States/S/Resource"), id="task-resource-unknown-action"),
    pytest.param(one(task(Resource="not-an-arn")),
                 (SCHEMA, "The resource provided not-an-arn is not recognized. The value is not a valid resource ARN, "
                          "or the resource is not available in this region.", "/States/S/Resource"),
                 id="task-resource-not-arn"),
    pytest.param(one(task(TimeoutSeconds=0)), (SCHEMA, "Minimum value is 1", "/States/S/TimeoutSeconds"),
                 id="task-timeout-range"),
    pytest.param(one(task(TimeoutSeconds=5, TimeoutSecondsPath="$.t")),
                 (SCHEMA, "Only one of these fields may be provided: [TimeoutSeconds, TimeoutSecondsPath]",
                  "/States/S"), id="task-timeout-and-path"),
    pytest.param(one(task(TimeoutSeconds=5, HeartbeatSeconds=5)),
                 (SCHEMA, "HeartbeatSeconds must be smaller than TimeoutSeconds", "/States/S/HeartbeatSeconds"),
                 id="task-heartbeat-not-smaller"),
    pytest.param(one(task(Credentials={})),
                 (SCHEMA, "The field 'RoleArn' is required but was missing", "/States/S/Credentials"),
                 id="credentials-role-arn"),
    # Retry and Catch
    pytest.param(one(task(Retry=[{"MaxAttempts": 1}])),
                 (SCHEMA, "These fields are required: [ErrorEquals]", "/States/S/Retry[0]"), id="retry-error-equals"),
    pytest.param(one(task(Retry=[{"ErrorEquals": []}])),
                 (SCHEMA, "Value cannot be empty", "/States/S/Retry[0]/ErrorEquals"), id="retry-error-equals-empty"),
    pytest.param(one(task(Retry=[{"ErrorEquals": ["A"], "MaxAttempts": -1}])),
                 (SCHEMA, "Minimum value is 0", "/States/S/Retry[0]/MaxAttempts"), id="retry-max-attempts"),
    pytest.param(one(task(Retry=[{"ErrorEquals": ["A"], "BackoffRate": 0.5}])),
                 (SCHEMA, "Minimum value is 1", "/States/S/Retry[0]/BackoffRate"), id="retry-backoff"),
    pytest.param(one(task(Retry=[{"ErrorEquals": ["A"], "IntervalSeconds": 0}])),
                 (SCHEMA, "Minimum value is 1", "/States/S/Retry[0]/IntervalSeconds"), id="retry-interval"),
    pytest.param(one(task(Retry=[{"ErrorEquals": ["A"], "MaxDelaySeconds": 0}])),
                 (SCHEMA, "Minimum value is 1", "/States/S/Retry[0]/MaxDelaySeconds"), id="retry-max-delay"),
    pytest.param(one(task(Retry=[{"ErrorEquals": ["A"], "JitterStrategy": "SOME"}])),
                 (SCHEMA, "Value should be one of the following: [FULL, NONE]", "/States/S/Retry[0]/JitterStrategy"),
                 id="retry-jitter"),
    pytest.param(one(task(Retry=[{"ErrorEquals": ["A"], "Foo": 1}])),
                 (SCHEMA, "Field 'Foo' is not supported", "/States/S/Retry[0]"), id="retry-unknown-field"),
    pytest.param(one(task(Retry=[{"ErrorEquals": ["States.ALL", "A"]}])),
                 (SCHEMA, "The wildcard 'States.ALL' must be the only error name in ErrorEquals",
                  "/States/S/Retry[0]/ErrorEquals"), id="retry-states-all-alone"),
    pytest.param(one(task(Retry=[{"ErrorEquals": ["States.ALL"]}, {"ErrorEquals": ["A"]}])),
                 (SCHEMA, "The wildcard 'States.ALL' must appear only in the last retrier", "/States/S/Retry[0]"),
                 id="retry-states-all-last"),
    pytest.param(one(task(Catch=[{"ErrorEquals": ["A"]}])),
                 (SCHEMA, "These fields are required: [Next]", "/States/S/Catch[0]"), id="catch-next-required"),
    pytest.param(jsonata(task(Catch=[{"ErrorEquals": ["A"], "Next": "S", "ResultPath": "$.e"}])),
                 (SCHEMA, "The QueryLanguage is set to 'JSONata', but field 'ResultPath' is only supported for the "
                          "'JSONPath' QueryLanguage", "/States/S/Catch[0]"), id="catch-result-path-jsonata"),
    # Wait
    pytest.param(one({"Type": "Wait", "End": True}),
                 (SCHEMA, "One of these fields is required: [Seconds, SecondsPath, Timestamp, TimestampPath]",
                  "/States/S"), id="wait-nothing"),
    pytest.param(one({"Type": "Wait", "Seconds": 1, "SecondsPath": "$.s", "End": True}),
                 (SCHEMA, "Only one of these fields may be provided: [Seconds, SecondsPath]", "/States/S"),
                 id="wait-two"),
    pytest.param(one({"Type": "Wait", "Seconds": -1, "End": True}),
                 (SCHEMA, "Minimum value is 0", "/States/S/Seconds"), id="wait-negative"),
    pytest.param(one({"Type": "Wait", "Seconds": "5", "End": True}),
                 (SCHEMA, "Expected value of type [INTEGER]", "/States/S/Seconds"), id="wait-seconds-type"),
    pytest.param(one({"Type": "Wait", "Timestamp": "2016-03-14T01:59:00", "End": True}),
                 (SCHEMA, "String does not match RFC3339 timestamp", "/States/S/Timestamp"), id="wait-no-zone"),
    pytest.param(one({"Type": "Wait", "Timestamp": "2016-02-30T01:59:00Z", "End": True}),
                 (SCHEMA, "String does not match RFC3339 timestamp", "/States/S/Timestamp"), id="wait-bad-date"),
    # Fail
    pytest.param(one({"Type": "Fail", "Error": "E", "ErrorPath": "$.e"}),
                 (SCHEMA, "Only one of these fields may be provided: [Error, ErrorPath]", "/States/S"),
                 id="fail-error-and-path"),
    pytest.param(one({"Type": "Fail", "Cause": "C", "CausePath": "$.c"}),
                 (SCHEMA, "Only one of these fields may be provided: [Cause, CausePath]", "/States/S"),
                 id="fail-cause-and-path"),
    pytest.param(one({"Type": "Fail", "Error": 3}), (SCHEMA, "Expected value of type [STRING]", "/States/S/Error"),
                 id="fail-error-type"),
    # Choice
    pytest.param(choice(None), (SCHEMA, "These fields are required: [Choices]",
                                                             "/States/S"), id="choice-choices-required"),
    pytest.param(choice([]),
                 (SCHEMA, "Value cannot be empty", "/States/S/Choices"), id="choice-choices-empty"),
    pytest.param(choice([{"Variable": "$.x", "Next": "E"}]),
                 (SCHEMA, "A choice rule must have one comparison operator, or And, Or or Not", "/States/S/Choices[0]"),
                 id="choice-no-operator"),
    pytest.param(choice([{"Variable": "$.x", "IsNull": True, "IsString": True,
                                                    "Next": "E"}]),
                 (SCHEMA, "Only one of these fields may be provided: [IsNull, IsString]", "/States/S/Choices[0]"),
                 id="choice-two-operators"),
    pytest.param(choice([{"Variable": "$.x", "NumericEquals": "1", "Next": "E"}]),
                 (SCHEMA, "Expected value of type [NUMBER]", "/States/S/Choices[0]/NumericEquals"),
                 id="choice-operand-type"),
    pytest.param(choice([{"Variable": "$.x", "StringEqualsPath": 1, "Next": "E"}]),
                 (SCHEMA, "Expected value of type [STRING]", "/States/S/Choices[0]/StringEqualsPath"),
                 id="choice-path-operand-type"),
    pytest.param(choice([{"Variable": "$.x", "IsPresent": "yes", "Next": "E"}]),
                 (SCHEMA, "Expected value of type [BOOLEAN]", "/States/S/Choices[0]/IsPresent"),
                 id="choice-type-test-operand"),
    pytest.param(choice([{"Variable": "$.x", "TimestampEquals": "yesterday",
                                                    "Next": "E"}]),
                 (SCHEMA, "String does not match RFC3339 timestamp", "/States/S/Choices[0]/TimestampEquals"),
                 id="choice-timestamp-operand"),
    pytest.param(choice([{"BooleanEquals": True, "Next": "E"}]),
                 (SCHEMA, "These fields are required: [Variable]", "/States/S/Choices[0]"), id="choice-variable"),
    pytest.param(choice([{"Variable": "$.x", "IsNull": True}]),
                 (SCHEMA, "These fields are required: [Next]", "/States/S/Choices[0]"), id="choice-rule-next"),
    pytest.param(choice([{"Not": {"Variable": "$.x", "IsNull": True, "Next": "E"},
                                                    "Next": "E"}]),
                 (SCHEMA, "Field 'Next' is not supported", "/States/S/Choices[0]/Not"), id="choice-nested-next"),
    pytest.param(choice([{"And": [], "Next": "E"}]),
                 (SCHEMA, "Value cannot be empty", "/States/S/Choices[0]/And"), id="choice-and-empty"),
    pytest.param(choice([{"Or": [{"Variable": "$.x", "IsNull": True, "Foo": 1}], "Next": "E"}]),
                 (SCHEMA, "Field 'Foo' is not supported", "/States/S/Choices[0]/Or[0]"), id="choice-or-nested"),
    pytest.param(choice([{"Next": "E"}], QueryLanguage="JSONata"),
                 (SCHEMA, "These fields are required: [Condition]", "/States/S/Choices[0]"),
                 id="choice-jsonata-condition"),
    pytest.param(choice([{"Condition": "{% true %}", "Variable": "$.x",
                                                         "Next": "E"}], QueryLanguage="JSONata"),
                 (SCHEMA, "The QueryLanguage is set to 'JSONata', but field 'Variable' is only supported for the "
                          "'JSONPath' QueryLanguage", "/States/S/Choices[0]"), id="choice-jsonata-variable"),
    pytest.param(choice([{"Condition": "{% true %}", "IsNull": True, "Variable": "$.x", "Next": "E"}]),
                 (SCHEMA, "The QueryLanguage is set to 'JSONPath', but field 'Condition' is only supported for the "
                          "'JSONata' QueryLanguage", "/States/S/Choices[0]"), id="choice-jsonpath-condition"),
    # Parallel
    pytest.param(one({"Type": "Parallel", "End": True}), (SCHEMA, "These fields are required: [Branches]",
                                                            "/States/S"), id="parallel-branches-required"),
    pytest.param(one({"Type": "Parallel", "Branches": [], "End": True}),
                 (SCHEMA, "Value cannot be empty", "/States/S/Branches"), id="parallel-branches-empty"),
    pytest.param(one({"Type": "Parallel", "Branches": [{"States": {"A": {"Type": "Succeed"}}}], "End": True}),
                 (SCHEMA, "These fields are required: [StartAt]", "/States/S/Branches[0]"), id="branch-start-at"),
    pytest.param(one({"Type": "Parallel", "End": True, "Branches": [{"StartAt": "A", "States": {
        "A": {"Type": "Pass", "Foo": 1, "End": True}}}]}),
        (SCHEMA, "Field 'Foo' is not supported", "/States/S/Branches[0]/States/A"), id="branch-recursive"),
    pytest.param(one({"Type": "Parallel", "End": True, "Branches": [{"StartAt": "A", "ProcessorConfig": {},
                                                                     "States": {"A": {"Type": "Succeed"}}}]}),
                 (SCHEMA, "Field 'ProcessorConfig' is not supported", "/States/S/Branches[0]"),
                 id="branch-processor-config"),
    # Map
    pytest.param(one({"Type": "Map", "End": True}), (SCHEMA, "These fields are required: [ItemProcessor]",
                                                       "/States/S"), id="map-processor-required"),
    pytest.param(one(map_state(Iterator={"StartAt": "P", "States": {"P": {"Type": "Succeed"}}})),
                 (SCHEMA, "Only one of these fields may be provided: [ItemProcessor, Iterator]", "/States/S"),
                 id="map-processor-and-iterator"),
    pytest.param(one(map_state(MaxConcurrency=-1)), (SCHEMA, "Minimum value is 0", "/States/S/MaxConcurrency"),
                 id="map-concurrency-negative"),
    pytest.param(one(map_state(MaxConcurrency=2, MaxConcurrencyPath="$.m")),
                 (SCHEMA, "Only one of these fields may be provided: [MaxConcurrency, MaxConcurrencyPath]",
                  "/States/S/MaxConcurrency"), id="map-concurrency-and-path"),
    pytest.param(one(map_state(ToleratedFailurePercentage=101)),
                 (SCHEMA, "Maximum value is 100", "/States/S/ToleratedFailurePercentage"), id="map-percentage"),
    pytest.param(one(map_state(ToleratedFailureCount=-1)),
                 (SCHEMA, "Minimum value is 0", "/States/S/ToleratedFailureCount"), id="map-count"),
    pytest.param(one(map_state(ItemSelector={}, Parameters={})),
                 (SCHEMA, "Only one of these fields may be provided: [ItemSelector, Parameters]", "/States/S"),
                 id="map-selector-and-parameters"),
    pytest.param(one(map_state(Label="")), (SCHEMA, "Label cannot be empty", "/States/S/Label"), id="label-empty"),
    pytest.param(one(map_state(Label="x" * 41)), (SCHEMA, "Label cannot exceed 40 characters", "/States/S/Label"),
                 id="label-too-long"),
    pytest.param(one(map_state(Label="a b")), (SCHEMA, "Label contains invalid characters", "/States/S/Label"),
                 id="label-characters"),
    pytest.param(one(map_state(ItemProcessor={"ProcessorConfig": {"Mode": "FAST"}, "StartAt": "P",
                                              "States": {"P": {"Type": "Succeed"}}})),
                 (SCHEMA, "Value should be one of the following: [INLINE, DISTRIBUTED]",
                  "/States/S/ItemProcessor/ProcessorConfig/Mode"), id="map-mode"),
    pytest.param(one(map_state(ItemProcessor={"ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "FAST"},
                                              "StartAt": "P", "States": {"P": {"Type": "Succeed"}}})),
                 (SCHEMA, "Value should be one of the following: [STANDARD, EXPRESS]",
                  "/States/S/ItemProcessor/ProcessorConfig/ExecutionType"), id="map-execution-type"),
    pytest.param(one(map_state(ItemReader={"Resource": "arn:aws:states:::s3:unknownOperation"})),
                 (SCHEMA, "The resource provided arn:aws:states:::s3:unknownOperation is not recognized. The value is "
                          "not a valid resource ARN, or the resource is not available in this region.",
                  "/States/S/ItemReader/Resource"), id="item-reader-resource"),
    pytest.param(one(map_state(ItemReader={"Resource": "arn:aws:states:::s3:getObject",
                                           "ReaderConfig": {"InputType": "XML"}})),
                 (SCHEMA, "Value should be one of the following: [CSV, JSON, JSONL, MANIFEST, PARQUET]",
                  "/States/S/ItemReader/ReaderConfig/InputType"), id="item-reader-input-type"),
    pytest.param(one(map_state(ItemBatcher={"MaxInputBytesPerBatch": 262145})),
                 (SCHEMA, "Maximum value is 262144", "/States/S/ItemBatcher/MaxInputBytesPerBatch"),
                 id="item-batcher-bytes"),
    pytest.param(one(map_state(ResultWriter={})),
                 (SCHEMA, "One of these fields is required: [Resource, WriterConfig]", "/States/S/ResultWriter"),
                 id="result-writer-empty"),
    pytest.param(one(map_state(ResultWriter={"Resource": "arn:aws:states:::s3:putObject"})),
                 (SCHEMA, "These fields are required: [Parameters]", "/States/S/ResultWriter"),
                 id="result-writer-parameters"),
    pytest.param(one(map_state(ResultWriter={"WriterConfig": {"Transformation": "COMPACT"}})),
                 (SCHEMA, "These fields are required: [OutputType]", "/States/S/ResultWriter/WriterConfig"),
                 id="writer-config"),
]


@pytest.mark.parametrize(("definition", "expected"), RULES)
def test_rule(definition: dict[str, Any], expected: tuple[str, str, str]) -> None:
    assert found(definition) == (expected if isinstance(expected, list) else [expected])


EXPRESS = [
    pytest.param("arn:aws:states:::sqs:sendMessage.waitForTaskToken",
                 "Express state machine does not support '.waitForTaskToken' service integration ", id="token"),
    pytest.param("arn:aws:states:::states:startExecution.sync:2",
                 "Express state machine does not support '.sync' service integration", id="sync"),
    pytest.param("arn:aws:states:us-east-1:111111111111:activity:work",
                 "Express state machine does not support Activity ARN", id="activity"),
]


@pytest.mark.parametrize(("resource", "message"), EXPRESS)
def test_express_restrictions(resource: str, message: str) -> None:
    definition = one(task(Resource=resource))
    assert found(definition) == []
    assert found(definition, "EXPRESS") == [(SCHEMA, message, "/States/S/Resource")]


@pytest.mark.parametrize(("resource", "recognized"), [
    pytest.param("arn:aws:states:::dynamodb:getItemm", False, id="dynamodb-misspelt-action"),
    pytest.param("arn:aws:states:::batch:submitJobb.sync", False, id="batch-misspelt-action"),
    pytest.param("arn:aws:states:::athena:startQuery", False, id="athena-unknown-action"),
    pytest.param("arn:aws:states:::eks:callApi", False, id="eks-unknown-action"),
    pytest.param("arn:aws:states:::sagemaker:createEndpoint.sync", False, id="request-only-action-with-sync"),
    pytest.param("arn:aws:states:::glue:startJobRun.waitForTaskToken", False, id="sync-only-action-with-callback"),
    pytest.param("arn:aws:states:::batch:submitJob.sync", True, id="batch-sync"),
    pytest.param("arn:aws:states:::ecs:runTask.waitForTaskToken", True, id="ecs-callback"),
    pytest.param("arn:aws:states:::eks:runJob.sync", True, id="eks-run-job"),
    pytest.param("arn:aws:states:::elasticmapreduce:modifyInstanceGroupByName", True, id="emr-by-name"),
    pytest.param("arn:aws:states:::s3:getObject", True, id="service-without-a-closed-list"),
])
def test_optimized_actions_are_a_closed_list(resource: str, recognized: bool) -> None:
    problem = (SCHEMA, f"The resource provided {resource} is not recognized. The value is not a valid resource "
                       "ARN, or the resource is not available in this region.", "/States/S/Resource")
    assert found(one(task(Resource=resource))) == ([] if recognized else [problem])


def test_unreachable_and_missing_target_together() -> None:
    definition = {"StartAt": "pass1", "States": {"pass1": {"Type": "Pass", "Next": "pass3"},
                                                 "pass2": {"Type": "Pass", "End": True}}}
    _, diagnostics = parse_definition(definition)
    assert create_error_message(diagnostics) == (
        "Invalid State Machine Definition: 'MISSING_TRANSITION_TARGET: Missing 'Next' target: pass3 at "
        "/States/pass1/Next, MISSING_TRANSITION_TARGET: State \"pass2\" is not reachable. at /States/pass2'")


def test_missing_end_state_reads_at_null() -> None:
    definition = {"StartAt": "A", "States": {"A": {"Type": "Pass", "Next": "A"}}}
    assert create_error_message(parse_definition(definition)[1]) == (
        "Invalid State Machine Definition: 'MISSING_END_STATE: Workflow has no terminal state at null'")


def test_create_error_message_lists_only_errors() -> None:
    warning = Diagnostic("NO_DOLLAR", "looks like a path", "/States/A/Parameters", "WARNING")
    error = Diagnostic("SCHEMA_VALIDATION_FAILED", "Field 'Foo' is not supported", "/States/A")
    assert create_error_message([warning, error]) == (
        "Invalid State Machine Definition: 'SCHEMA_VALIDATION_FAILED: Field 'Foo' is not supported at /States/A'")


def test_nested_loop_without_terminal_state_is_allowed() -> None:
    loop = {"StartAt": "A", "States": {"A": {"Type": "Pass", "Next": "B"}, "B": {"Type": "Pass", "Next": "A"}}}
    assert found(one(map_state(ItemProcessor=loop))) == []


def test_duplicate_state_names_in_json_text() -> None:
    text = '{"StartAt": "A", "States": {"A": {"Type": "Succeed"}, "A": {"Type": "Succeed"}}}'
    assert found(text) == [("DUPLICATE_STATE_NAME", "Duplicate State name: A", "/States/A")]


def test_json_text_is_parsed() -> None:
    definition, diagnostics = parse_definition('{"StartAt": "A", "States": {"A": {"Type": "Succeed"}}}')
    assert diagnostics == [] and definition is not None
    assert definition.fields == {"StartAt": "A", "States": {"A": {"Type": "Succeed"}}}
    assert (definition.start_at, definition.states["A"].type, definition.states["A"].location) == (
        "A", "Succeed", "/States/A")


def test_invalid_json_is_worded_as_aws_words_it() -> None:
    assert found("not a definition") == [(
        "INVALID_JSON_DESCRIPTION",
        "Unrecognized token 'not': was expecting (JSON String, Number, Array, Object or token 'null', 'true' or "
        "'false')\n at [Source: (String)\"not a definition\"; line: 1, column: 4]",
        "[Source: (String)\"not a definition\"; line: 1, column: 4]",
    )]


@pytest.mark.parametrize("text", ["{", '{"a": NaN}', "[1,]", "{'a': 1}"], ids=["eof", "nan", "comma", "quote"])
def test_other_json_syntax_errors(text: str) -> None:
    definition, diagnostics = parse_definition(text)
    assert definition is None and [d.code for d in diagnostics] == ["INVALID_JSON_DESCRIPTION"]


@pytest.mark.parametrize("value", ["", "   ", None, "null", "[]", "5", '"text"', [1], 3.5],
                         ids=["empty", "blank", "null", "json-null", "array", "number", "string", "list", "float"])
def test_not_an_object(value: Any) -> None:  # recorded for " "
    definition, diagnostics = parse_definition(value)
    assert definition is None
    assert [(d.code, d.message, d.location) for d in diagnostics] == [
        (SCHEMA, "Definition must be a valid JSON object", "")]


@pytest.mark.parametrize(
    ("state", "default", "expected"),
    [
        pytest.param({}, "JSONPath", "JSONPath", id="inherit-jsonpath"),
        pytest.param({}, "JSONata", "JSONata", id="inherit-jsonata"),
        pytest.param({"QueryLanguage": "JSONata"}, "JSONPath", "JSONata", id="own-jsonata"),
        pytest.param({"QueryLanguage": "JSONPath"}, "JSONata", "JSONPath", id="own-jsonpath"),
        pytest.param({"QueryLanguage": "jsonpath"}, "JSONPath", "JSONata", id="not-exactly-jsonpath"),
    ],
)
def test_query_language_of(state: dict[str, Any], default: str, expected: str) -> None:
    assert query_language_of(state, default) == expected


@pytest.mark.parametrize("name, valid", [
    pytest.param("total", True, id="word"),
    pytest.param("_private2", True, id="underscore-digit"),
    pytest.param("größe", True, id="unicode-letters"),
    pytest.param("2fast", False, id="leading-digit"),
    pytest.param("a-b", False, id="dash"),
    pytest.param("states", False, id="reserved"),
    pytest.param("x" * 81, False, id="too-long"),
])
def test_assign_variable_names(name: str, valid: bool) -> None:
    definition = {"StartAt": "S", "States": {"S": {"Type": "Pass", "Assign": {name: 1}, "End": True}}}
    _, diagnostics = parse_definition(definition)
    assert (not diagnostics) == valid, diagnostics
    if not valid:
        assert diagnostics[0].location == f"/States/S/Assign/{name}"
