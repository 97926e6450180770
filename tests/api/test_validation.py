"""Requests against botocore's service model: AWS's SerializationException and ValidationException wording."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from stepline.api.validation import SERVICE_MODEL, java_text, validate, validation_message
from stepline.service.errors import SerializationException, ValidationException
from shared import CASES_DIR

ARN = "arn:aws:states:us-east-1:123456789012:stateMachine:orders"


def _validation_error(operation: str, body: dict[str, Any]) -> str:
    with pytest.raises(ValidationException) as caught:
        validate(operation, body)
    return caught.value.message


VALIDATION = [
    # Recorded from AWS (api_behaviour/test_sfn_api.test_state_machine_status_filter): AWS's own enum order.
    pytest.param("ListExecutions", {"stateMachineArn": ARN, "statusFilter": "succeeded"},
                 "1 validation error detected: Value 'succeeded' at 'statusFilter' failed to satisfy constraint: "
                 "Member must satisfy enum value set: [SUCCEEDED, TIMED_OUT, PENDING_REDRIVE, ABORTED, FAILED, "
                 "RUNNING]", id="enum-recorded-order"),
    pytest.param("StartExecution", {"name": "n"},
                 "1 validation error detected: Value null at 'stateMachineArn' failed to satisfy constraint: "
                 "Member must not be null", id="required-missing"),
    pytest.param("StartExecution", {"stateMachineArn": None},
                 "1 validation error detected: Value null at 'stateMachineArn' failed to satisfy constraint: "
                 "Member must not be null", id="required-null"),
    pytest.param("StartExecution", {"stateMachineArn": ARN, "name": "a" * 81},
                 f"1 validation error detected: Value '{'a' * 81}' at 'name' failed to satisfy constraint: "
                 "Member must have length less than or equal to 80", id="name-too-long"),
    pytest.param("StartExecution", {"stateMachineArn": ARN, "name": ""},
                 "1 validation error detected: Value '' at 'name' failed to satisfy constraint: "
                 "Member must have length greater than or equal to 1", id="name-empty"),
    pytest.param("StartExecution", {"stateMachineArn": ARN, "input": json.dumps("a" * 262_144)},
                 "1 validation error detected: Value at 'input' failed to satisfy constraint: "
                 "Member must have size less than or equal to 262144 bytes in UTF-8 encoding",
                 id="sensitive-input-size-in-bytes"),
    pytest.param("StartExecution", {"stateMachineArn": ARN, "input": "é" * 131_073},
                 "1 validation error detected: Value at 'input' failed to satisfy constraint: "
                 "Member must have size less than or equal to 262144 bytes in UTF-8 encoding",
                 id="input-size-counts-utf8-bytes"),
    pytest.param("ListActivities", {"maxResults": 1001},
                 "1 validation error detected: Value '1001' at 'maxResults' failed to satisfy constraint: "
                 "Member must have value less than or equal to 1000", id="max-results-high"),
    pytest.param("ListActivities", {"maxResults": -1},
                 "1 validation error detected: Value '-1' at 'maxResults' failed to satisfy constraint: "
                 "Member must have value greater than or equal to 0", id="max-results-negative"),
    pytest.param("ValidateStateMachineDefinition", {"definition": "{}", "maxResults": 101},
                 "1 validation error detected: Value '101' at 'maxResults' failed to satisfy constraint: "
                 "Member must have value less than or equal to 100", id="validate-max-results"),
    pytest.param("CreateStateMachine", {"name": "m"},
                 "2 validation errors detected: Value null at 'definition' failed to satisfy constraint: "
                 "Member must not be null; Value null at 'roleArn' failed to satisfy constraint: "
                 "Member must not be null", id="two-errors-joined"),
    pytest.param("CreateStateMachine", {"name": "m", "definition": "{}", "roleArn": ARN, "type": "express"},
                 "1 validation error detected: Value 'express' at 'type' failed to satisfy constraint: "
                 "Member must satisfy enum value set: [STANDARD, EXPRESS]", id="enum-model-order"),
    pytest.param("CreateStateMachine", {"name": "m", "definition": "{}", "roleArn": ARN,
                                        "loggingConfiguration": {"level": "all"}},
                 "1 validation error detected: Value 'all' at 'loggingConfiguration.level' failed to satisfy "
                 "constraint: Member must satisfy enum value set: [ALL, ERROR, FATAL, OFF]", id="nested-member"),
    pytest.param("CreateStateMachine", {"name": "m", "definition": "{}", "roleArn": ARN,
                                        "encryptionConfiguration": {}},
                 "1 validation error detected: Value null at 'encryptionConfiguration.type' failed to satisfy "
                 "constraint: Member must not be null", id="nested-required"),
    pytest.param("CreateStateMachineAlias", {"name": "live", "routingConfiguration": [
                    {"stateMachineVersionArn": f"{ARN}:1", "weight": 101}]},
                 "1 validation error detected: Value '101' at 'routingConfiguration.1.member.weight' failed to "
                 "satisfy constraint: Member must have value less than or equal to 100", id="list-member-path"),
    pytest.param("CreateStateMachineAlias", {"name": "live", "routingConfiguration": []},
                 "1 validation error detected: Value '[]' at 'routingConfiguration' failed to satisfy "
                 "constraint: Member must have length greater than or equal to 1", id="list-too-short"),
    pytest.param("CreateStateMachineAlias", {"name": "123", "routingConfiguration": [
                    {"stateMachineVersionArn": f"{ARN}:1", "weight": 100}]},
                 "1 validation error detected: Value '123' at 'name' failed to satisfy constraint: Member must "
                 "satisfy regular expression pattern: ^(?=.*[a-zA-Z_\\-\\.])[a-zA-Z0-9_\\-\\.]+$",
                 id="alias-name-pattern"),
    pytest.param("UntagResource", {"resourceArn": ARN, "tagKeys": ["", "k"]},
                 "1 validation error detected: Value '' at 'tagKeys.1.member' failed to satisfy constraint: "
                 "Member must have length greater than or equal to 1", id="list-of-strings-path"),
    pytest.param("TagResource", {"resourceArn": ARN, "tags": [{"key": "k" * 129}]},
                 f"1 validation error detected: Value '{'k' * 129}' at 'tags.1.member.key' failed to satisfy "
                 "constraint: Member must have length less than or equal to 128", id="tag-key"),
    pytest.param("StartExecution", {"stateMachineArn": ARN, "traceHeader": "Root=ü"},
                 "1 validation error detected: Value 'Root=ü' at 'traceHeader' failed to satisfy constraint: "
                 "Member must satisfy regular expression pattern: \\p{ASCII}*", id="java-pattern-class"),
    pytest.param("RedriveExecution", {"executionArn": ARN, "clientToken": "a b"},
                 "1 validation error detected: Value 'a b' at 'clientToken' failed to satisfy constraint: "
                 "Member must satisfy regular expression pattern: [!-~]+", id="client-token-pattern"),
    pytest.param("UpdateMapRun", {"mapRunArn": ARN, "toleratedFailurePercentage": 150},
                 "1 validation error detected: Value '150.0' at 'toleratedFailurePercentage' failed to satisfy "
                 "constraint: Member must have value less than or equal to 100", id="float-range"),
]


@pytest.mark.parametrize(("operation", "body", "message"), VALIDATION)
def test_validation_messages(operation: str, body: dict[str, Any], message: str) -> None:
    assert _validation_error(operation, body) == message


SERIALIZATION = [
    pytest.param("StartExecution", {"stateMachineArn": 5}, "NUMBER_VALUE cannot be converted to String",
                 id="number-for-string"),
    pytest.param("StartExecution", {"stateMachineArn": 1.5}, "DECIMAL_VALUE cannot be converted to String",
                 id="decimal-for-string"),
    pytest.param("StartExecution", {"stateMachineArn": True}, "TRUE_VALUE cannot be converted to String",
                 id="bool-for-string"),
    pytest.param("StartExecution", {"stateMachineArn": {}}, "Start of structure or map found where not expected",
                 id="object-for-string"),
    pytest.param("StartExecution", {"stateMachineArn": []},
                 "Unrecognized collection type class java.lang.String", id="list-for-string"),
    pytest.param("ListActivities", {"maxResults": "3"}, "STRING_VALUE cannot be converted to Integer",
                 id="string-for-integer"),
    pytest.param("ListActivities", {"maxResults": False}, "FALSE_VALUE cannot be converted to Integer",
                 id="bool-for-integer"),
    pytest.param("GetExecutionHistory", {"executionArn": ARN, "reverseOrder": "true"},
                 "Unexpected token received from parser", id="string-for-boolean"),
    pytest.param("GetExecutionHistory", {"executionArn": ARN, "reverseOrder": 1},
                 "NUMBER_VALUE cannot be converted to Boolean", id="number-for-boolean"),
    pytest.param("TagResource", {"resourceArn": ARN, "tags": "k"}, "Unexpected field type", id="string-for-list"),
    pytest.param("TagResource", {"resourceArn": ARN, "tags": {}},
                 "Start of structure or map found where not expected", id="object-for-list"),
    pytest.param("CreateStateMachine", {"loggingConfiguration": 3}, "Unexpected field type",
                 id="number-for-structure"),
    pytest.param("UpdateMapRun", {"mapRunArn": ARN, "toleratedFailureCount": "1"},
                 "STRING_VALUE cannot be converted to Long", id="string-for-long"),
]


@pytest.mark.parametrize(("operation", "body", "message"), SERIALIZATION)
def test_wrong_json_types_are_serialization_errors(operation: str, body: dict[str, Any], message: str) -> None:
    with pytest.raises(SerializationException) as caught:
        validate(operation, body)
    assert caught.value.message == message


def test_a_wrong_type_wins_over_constraint_violations() -> None:
    """AWS deserializes before it validates: one type error hides every constraint violation."""
    with pytest.raises(SerializationException):
        validate("CreateStateMachine", {"name": "x" * 100, "publish": "yes"})


def test_unknown_members_are_ignored_and_nulls_are_absent() -> None:
    params = validate("ListActivities", {"maxResults": 5, "somethingNew": {"x": 1}, "nextToken": None})
    assert params == {"maxResults": 5}
    nested = validate("CreateStateMachine", {"name": "m", "definition": "{}", "roleArn": ARN,
                                             "tracingConfiguration": {"enabled": True, "sampling": 1}})
    assert nested["tracingConfiguration"] == {"enabled": True}


def test_a_decimal_given_for_an_integer_is_truncated() -> None:
    assert validate("ListActivities", {"maxResults": 7.9}) == {"maxResults": 7}


def test_valid_requests_come_back_typed() -> None:
    body = {"name": "live", "description": "d",
            "routingConfiguration": [{"stateMachineVersionArn": f"{ARN}:1", "weight": 60},
                                     {"stateMachineVersionArn": f"{ARN}:2", "weight": 40}]}
    assert validate("CreateStateMachineAlias", body) == body
    assert validate("UpdateMapRun", {"mapRunArn": ARN, "toleratedFailurePercentage": 5}) == {
        "mapRunArn": ARN, "toleratedFailurePercentage": 5.0}


def test_every_operation_validates_an_empty_body_without_crashing() -> None:
    for operation in SERVICE_MODEL["operations"]:
        try:
            validate(operation, {})
        except ValidationException as error:
            assert re.match(r"\d+ validation errors? detected: Value null at '", error.message)


def test_summary_wording() -> None:
    assert validation_message(["a"]) == "1 validation error detected: a"
    assert validation_message(["a", "b", "c"]) == "3 validation errors detected: a; b; c"


@pytest.mark.parametrize(("value", "text"), [
    (True, "true"), (3, "3"), (2.5, "2.5"), (["a", "b"], "[a, b]"), ({"k": 1}, "{k=1}"), ("x", "x")])
def test_values_print_as_java_prints_them(value: Any, text: str) -> None:
    assert java_text(value) == text


def _recorded_validation_steps() -> list:
    params = []
    for path in sorted(CASES_DIR.glob("*/*.json")):
        case = json.loads(path.read_text(encoding="utf-8"))
        for index, step in enumerate(case.get("steps", [])):
            error = (step.get("expect") or {}).get("error") or {}
            message = error.get("message_contains", "")
            if error.get("code") == "ValidationException" and re.match(r"\d+ validation errors? detected", message):
                params.append(pytest.param(step["call"], step["args"], message, id=f"{case['id']}[{index}]"))
    return params


RECORDED = _recorded_validation_steps()


@pytest.mark.parametrize(("operation", "body", "message"), RECORDED)
def test_model_errors_recorded_from_aws(operation: str, body: dict[str, Any], message: str) -> None:
    """Every model-level ValidationException the corpus recorded from AWS, word for word."""
    assert _validation_error(operation, body) == message


def test_the_corpus_has_recorded_model_errors() -> None:
    assert RECORDED, f"no recorded ValidationException in {CASES_DIR}"
