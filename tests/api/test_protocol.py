"""AWS JSON 1.0 in process: targets, bodies, size limit, error shape, timestamps, and the catch-all."""

from __future__ import annotations

import logging
import uuid
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from stepline.api.actions import ACTIONS, find_action
from stepline.api.protocol import MAX_REQUEST_BYTES, dumps
from stepline.api.validation import SERVICE_MODEL
from stepline.service.errors import ApiError, ExecutionDoesNotExist, StateMachineDoesNotExist

ARN = "arn:aws:states:us-east-1:123456789012:stateMachine:orders"


class Service:
    """Records what the protocol hands over and answers a few actions."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []

    async def list_activities(self, **params: Any) -> dict[str, Any]:
        self.calls.append(("list_activities", params))
        return {"activities": [{"activityArn": "arn:aws:states:us-east-1:123456789012:activity:a", "name": "a",
                                "creationDate": datetime(2024, 5, 6, 7, 8, 9, 123456, tzinfo=UTC)}]}

    async def describe_execution(self, executionArn: str, includedData: str | None = None) -> dict[str, Any]:
        raise ExecutionDoesNotExist(f"Execution Does Not Exist: '{executionArn}'")

    async def start_execution(self, **params: Any) -> dict[str, Any]:
        raise RuntimeError("a bug in the service")

    async def describe_state_machine(self, **params: Any) -> dict[str, Any]:
        return {"unserializable": object()}

    async def stop_execution(self, **params: Any) -> dict[str, Any]:
        return {"stopDate": datetime(2024, 1, 1, 12, 0, 0, 999999, tzinfo=timezone(timedelta(hours=2)))}

    async def delete_activity(self, **params: Any) -> None:
        self.calls.append(("delete_activity", params))

    async def send_task_heartbeat(self, **params: Any) -> dict[str, Any]:
        raise StateMachineDoesNotExist("")


@pytest.fixture
def service() -> Service:
    return Service()


@pytest.fixture
def client(asgi, service: Service):
    return asgi(service)


def test_every_operation_of_the_model_has_an_action() -> None:
    """Meta-test: botocore's stepfunctions operations and ACTIONS are the same 37 names, snake_case methods."""
    from botocore import xform_name

    operations = SERVICE_MODEL["operations"]
    assert set(ACTIONS) == set(operations) and len(ACTIONS) == 37
    for name, action in ACTIONS.items():
        assert action.method == xform_name(name)
        prefix = operations[name].get("endpoint", {}).get("hostPrefix", "")
        assert action.host_prefix == prefix


@pytest.mark.parametrize(("target", "found"), [
    ("AWSStepFunctions.ListActivities", "ListActivities"), ("AWSStepFunctions.Nope", None),
    ("ListActivities", None), ("", None), ("DynamoDB_20120810.ListActivities", None),
    ("AWSStepFunctions.", None), ("AWSStepFunctions.listActivities", None)])
def test_find_action(target: str, found: str | None) -> None:
    action = find_action(target)
    assert (action.name if action else None) == found


def test_a_call_passes_members_as_keywords_and_answers_json(client, service: Service) -> None:
    reply = client.call("ListActivities", {"maxResults": 5, "unknownMember": 1})
    assert reply.status == 200
    assert reply.headers["content-type"] == "application/x-amz-json-1.0"
    assert uuid.UUID(reply.headers["x-amzn-requestid"])
    assert service.calls == [("list_activities", {"maxResults": 5})]
    assert reply.json["activities"][0]["creationDate"] == 1714979289.123


def test_timestamps_are_epoch_seconds_with_milliseconds(client) -> None:
    assert client.call("StopExecution", {"executionArn": ARN}).json == {"stopDate": 1704103201.0}
    assert dumps({"at": datetime(1970, 1, 1, 0, 0, 1, 500000)}) == b'{"at":1.5}'     # naive: taken as UTC


def test_no_result_is_an_empty_object(client, service: Service) -> None:
    reply = client.call("DeleteActivity", {"activityArn": "arn:aws:states:us-east-1:1:activity:a"})
    assert (reply.status, reply.json) == (200, {})


def test_service_errors_in_aws_shape(client) -> None:
    reply = client.call("DescribeExecution", {"executionArn": "arn:x"})
    assert reply.status == 400
    assert reply.json == {"__type": "ExecutionDoesNotExist", "message": "Execution Does Not Exist: 'arn:x'"}
    assert "x-amzn-requestid" in reply.headers


def test_an_error_without_message_has_no_message_member(client) -> None:
    reply = client.call("SendTaskHeartbeat", {"taskToken": "t"})
    assert reply.json == {"__type": "StateMachineDoesNotExist"}


@pytest.mark.parametrize("target", [None, "", "AWSStepFunctions.Nope", "Other.ListActivities", "ListActivities"])
def test_unknown_or_missing_target(client, target: str | None) -> None:
    reply = client.post(b"{}", target=target)
    assert (reply.status, reply.json) == (400, {"__type": "UnknownOperationException"})


def test_an_action_the_service_lacks_is_reported_not_crashed(client) -> None:
    reply = client.call("ListMapRuns", {"executionArn": ARN})
    assert reply.status == 400
    assert reply.json == {"__type": "UnknownOperationException",
                          "message": "Stepline does not implement ListMapRuns yet."}


@pytest.mark.parametrize(("body", "expected"), [
    pytest.param(b"{bad", {"__type": "SerializationException"}, id="not-json"),
    pytest.param(b"\xff\xfe", {"__type": "SerializationException"}, id="not-utf8"),
    pytest.param(b'{"a": 1} trailing', {"__type": "SerializationException"}, id="trailing"),
    pytest.param(b"[]", {"__type": "SerializationException", "Message": "Start of list found where not expected"},
                 id="array"),
    pytest.param(b'"text"', {"__type": "SerializationException", "Message": "Unexpected field type"}, id="string"),
    pytest.param(b"42", {"__type": "SerializationException", "Message": "Unexpected field type"}, id="number"),
])
def test_bodies_that_are_not_json_objects(client, body: bytes, expected: dict) -> None:
    reply = client.post(body, target="AWSStepFunctions.ListActivities")
    assert (reply.status, reply.json) == (400, expected)


def test_serialization_is_checked_before_the_target(client) -> None:
    assert client.post(b"{bad", target="AWSStepFunctions.Nope").json == {"__type": "SerializationException"}


@pytest.mark.parametrize("body", [b"", b"  ", b"null"])
def test_an_empty_body_is_an_empty_request(client, service: Service, body: bytes) -> None:
    assert client.post(body, target="AWSStepFunctions.ListActivities").status == 200
    assert service.calls == [("list_activities", {})]


def test_validation_errors_reach_the_client(client) -> None:
    reply = client.call("ListExecutions", {"stateMachineArn": ARN, "statusFilter": "succeeded"})
    assert reply.status == 400
    assert reply.json["__type"] == "ValidationException"
    assert reply.json["message"].startswith("1 validation error detected: Value 'succeeded' at 'statusFilter'")


def test_a_body_over_the_limit_is_413(client, service: Service) -> None:
    body = b'{"maxResults": 1' + b" " * MAX_REQUEST_BYTES + b"}"
    reply = client.post(body, target="AWSStepFunctions.ListActivities")
    assert reply.status == 413
    assert reply.json == {"__type": "RequestEntityTooLargeException",
                          "message": f"Request size exceeds the maximum of {MAX_REQUEST_BYTES} bytes."}
    assert service.calls == []


def test_a_body_at_the_limit_is_read(client) -> None:
    body = b"{}" + b" " * (MAX_REQUEST_BYTES - 2)
    assert client.post(body, target="AWSStepFunctions.ListActivities").status == 200


def test_the_limit_is_configurable(asgi, service: Service) -> None:
    client = asgi(service, max_request_bytes=10)
    assert client.post(b'{"maxResults": 5}', target="AWSStepFunctions.ListActivities").status == 413


def test_a_bug_is_logged_and_answered_as_internal_failure(client, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.ERROR, logger="stepline.api.protocol"):
        reply = client.call("StartExecution", {"stateMachineArn": ARN})
    assert reply.status == 500
    assert reply.json == {"__type": "InternalFailure", "message": "The request processing has failed because of "
                          "an unknown error, exception or failure."}
    assert b"a bug in the service" not in reply.body and b"Traceback" not in reply.body
    record = next(r for r in caplog.records if r.exc_info)
    assert "a bug in the service" in str(record.exc_info[1])
    assert record.action == "AWSStepFunctions.StartExecution"


def test_an_unserializable_result_is_internal_failure(client) -> None:
    reply = client.call("DescribeStateMachine", {"stateMachineArn": ARN})
    assert (reply.status, reply.json["__type"]) == (500, "InternalFailure")


def test_the_sync_host_prefix_is_just_a_host(client, service: Service) -> None:
    reply = client.post(b"{}", target="AWSStepFunctions.ListActivities", headers={"host": "sync-127.0.0.1:8083"})
    assert reply.status == 200


def test_other_content_types_are_accepted(client) -> None:
    for content_type in ("application/x-amz-json-1.1", "application/json", "text/plain"):
        reply = client.post(b"{}", target="AWSStepFunctions.ListActivities", headers={"content-type": content_type})
        assert reply.status == 200


def test_only_post_is_the_api(client) -> None:
    assert client.post(b"", target="AWSStepFunctions.ListActivities", method="GET").status == 405


def test_api_errors_keep_their_code_and_status(asgi) -> None:
    class Teapot(ApiError):
        code, status = "Teapot", 418

    class Brewing:
        async def get_activity_task(self, **params: Any) -> dict[str, Any]:
            raise Teapot("short and stout")

    reply = asgi(Brewing()).call("GetActivityTask", {"activityArn": "arn:aws:states:us-east-1:1:activity:a"})
    assert (reply.status, reply.json) == (418, {"__type": "Teapot", "message": "short and stout"})
