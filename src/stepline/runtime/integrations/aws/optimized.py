"""The optimized integrations that answer at once (request-response, and `.waitForTaskToken` where AWS allows
it), called on AWS or at the configured endpoints:

- `lambda:invoke` and Lambda function ARNs (a function no local function serves);
- `dynamodb:getItem|putItem|updateItem|deleteItem`, `sqs:sendMessage`, `sns:publish`, `events:putEvents`;
- `bedrock:invokeModel`.

Parameters are the operation's members (shapes.py); a JSON value where the API takes text (SQS MessageBody, SNS
Message, an EventBridge entry's Detail, Lambda's Payload, Bedrock's Body) is sent as its JSON text. Results are
the response as Step Functions' SDK (Java v1) gives it: its members plus `SdkHttpMetadata` (the HTTP headers and
status) and `SdkResponseMetadata` (the request id), except EventBridge's and Bedrock's, which are the members
alone. Failures are `<Prefix>.<Exception>` (errors.py). Documented specifics: putEvents appends the execution's
and its state machine's ARNs to each entry's Resources and fails with `EventBridge.FailedEntry` (the response as
its cause) when an entry failed; a Lambda function's error is named by its payload's errorType. Step Functions
adds no idempotency token to these calls and neither does stepline (see README).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from typing import Any

import botocore.session
from botocore.exceptions import BotoCoreError, ClientError
from botocore.model import ServiceModel

from stepline.errors import StatesError
from stepline.jsonvalue import JSON, dumps, loads
from stepline.runtime.integrations.aws import shapes
from stepline.runtime.integrations.aws.clients import AwsClients, RoleError
from stepline.runtime.integrations.aws.errors import Naming, states_error
from stepline.runtime.integrations.registry import AwaitCallback, Integration, Outcome, Succeeded, TaskCall

Parameters = dict[str, Any]


@dataclass(frozen=True, slots=True)
class Api:
    """One service's optimized integration."""

    service: str  # botocore's name
    naming: Naming
    actions: dict[str, str]  # action -> operation
    callback: bool = True  # whether .waitForTaskToken is allowed
    sdk_metadata: bool = True  # whether results carry SdkHttpMetadata and SdkResponseMetadata
    json_text: dict[str, Callable[[Parameters, TaskCall], Parameters]] = field(default_factory=dict)


def _v1(prefix: str, service: str, base_exception: str) -> Naming:
    return Naming(prefix=prefix, base_exception=base_exception, service=service, sdk_v1=True)


def _text(value: JSON) -> JSON:
    return value if isinstance(value, str) or value is None else dumps(value)


def _sqs(parameters: Parameters, call: TaskCall) -> Parameters:
    return {**parameters, "MessageBody": _text(parameters["MessageBody"])} if "MessageBody" in parameters else (
        parameters)


def _sns(parameters: Parameters, call: TaskCall) -> Parameters:
    return {**parameters, "Message": _text(parameters["Message"])} if "Message" in parameters else parameters


def _events(parameters: Parameters, call: TaskCall) -> Parameters:
    entries = parameters.get("Entries")
    if not isinstance(entries, list):
        return parameters
    arns = [call.execution_arn, state_machine_arn(call.execution_arn)]
    return {**parameters, "Entries": [
        {**entry, **({"Detail": _text(entry["Detail"])} if "Detail" in entry else {}),
         "Resources": [*(entry.get("Resources") or []), *arns]} if isinstance(entry, dict) else entry
        for entry in entries]}


def _bedrock(parameters: Parameters, call: TaskCall) -> Parameters:
    return {**parameters, "Body": _text(parameters["Body"])} if "Body" in parameters else parameters


APIS: dict[str, Api] = {
    "dynamodb": Api("dynamodb", _v1("DynamoDB", "AmazonDynamoDBv2", "AmazonDynamoDBException"),
                    {"getItem": "GetItem", "putItem": "PutItem", "updateItem": "UpdateItem",
                     "deleteItem": "DeleteItem"}, callback=False),
    "sqs": Api("sqs", _v1("SQS", "AmazonSQS", "AmazonSQSException"), {"sendMessage": "SendMessage"},
               json_text={"SendMessage": _sqs}),
    "sns": Api("sns", _v1("SNS", "AmazonSNS", "AmazonSNSException"), {"publish": "Publish"},
               json_text={"Publish": _sns}),
    "events": Api("events", _v1("EventBridge", "AmazonEventBridge", "AmazonEventBridgeException"),
                  {"putEvents": "PutEvents"}, sdk_metadata=False, json_text={"PutEvents": _events}),
    "lambda": Api("lambda", _v1("Lambda", "AWSLambda", "AWSLambdaException"), {"invoke": "Invoke"}),
    "bedrock": Api("bedrock-runtime", _v1("Bedrock", "AmazonBedrockRuntime", "AmazonBedrockRuntimeException"),
                   {"invokeModel": "InvokeModel"}, callback=False, sdk_metadata=False,
                   json_text={"InvokeModel": _bedrock}),
}


class OptimizedIntegrations(Integration):
    """The optimized integrations above, on AWS or at the configured endpoints."""

    name = "aws"

    def __init__(self, clients: AwsClients) -> None:
        self.clients = clients

    def handles(self, call: TaskCall) -> bool:
        resource = call.resource
        if resource.kind == "lambda":
            return True
        api = APIS.get(resource.resource_type)
        if api is None or resource.pattern == "sync":
            return False
        action = resource.name.removesuffix(".waitForTaskToken")
        return action in api.actions and (resource.pattern == "request" or api.callback)

    async def invoke(self, call: TaskCall) -> Outcome:
        resource = call.resource
        if resource.kind == "lambda":  # a function's ARN: the function's payload is the result
            parameters: JSON = {"FunctionName": resource.arn, "Payload": call.parameters}
            api, operation = APIS["lambda"], "Invoke"
        else:
            parameters = call.parameters
            api = APIS[resource.resource_type]
            operation = api.actions[resource.name.removesuffix(".waitForTaskToken")]
        if operation in api.json_text and isinstance(parameters, dict):
            parameters = api.json_text[operation](parameters, call)
        model = await self.clients.run(_model, api.service)
        operation_model = model.operation_model(operation)
        request = shapes.with_idempotency_token(operation_model.input_shape,
                                                shapes.request(operation_model.input_shape, parameters),
                                                call.idempotency_key)
        try:
            response = await self.clients.call(call, api.service, operation, request)
        except (ClientError, BotoCoreError, RoleError) as error:
            raise states_error(error, api.naming, model) from None
        output = shapes.response(operation_model.output_shape, response)
        assert isinstance(output, dict)
        if api.service == "lambda":
            output = _lambda_result(output)
            if resource.kind == "lambda":
                return Succeeded(output["Payload"])
        elif api.service == "events" and response.get("FailedEntryCount"):
            raise StatesError("EventBridge.FailedEntry", dumps(output))
        elif api.service == "bedrock-runtime":
            output = {**output, "Body": _json_or_text(output.get("Body"))}
        if api.sdk_metadata:
            output = {**output, **sdk_metadata(response)}
        return AwaitCallback(output) if resource.pattern == "callback" else Succeeded(output)


def _lambda_result(output: dict[str, JSON]) -> dict[str, JSON]:
    payload = _json_or_text(output.get("Payload"))
    if output.get("FunctionError"):
        error_type = payload.get("errorType") if isinstance(payload, dict) else None
        raise StatesError(error_type if isinstance(error_type, str) and error_type else "Lambda.Unknown",
                          dumps(payload) if not isinstance(payload, str) else payload)
    return {**output, "Payload": payload}


def _json_or_text(text: JSON) -> JSON:
    if not isinstance(text, str) or not text.strip():
        return {} if text in ("", None) else text
    try:
        return loads(text)
    except ValueError:
        return text


def sdk_metadata(response: dict[str, Any]) -> dict[str, JSON]:
    """The SDK (Java v1) response metadata that Step Functions adds to an optimized integration's result."""
    metadata = response.get("ResponseMetadata", {})
    headers = metadata.get("Headers", {})
    return {"SdkHttpMetadata": {"AllHttpHeaders": {name: [value] for name, value in headers.items()},
                                "HttpHeaders": dict(headers), "HttpStatusCode": metadata.get("HTTPStatusCode", 200)},
            "SdkResponseMetadata": {"RequestId": metadata.get("RequestId", "")}}


def state_machine_arn(execution_arn: str) -> str:
    """arn:aws:states:REGION:ACCOUNT:execution:MACHINE:NAME -> its state machine's ARN."""
    parts = execution_arn.split(":")
    return ":".join([*parts[:5], "stateMachine", parts[6]]) if len(parts) > 6 else execution_arn


@cache
def _model(service: str) -> ServiceModel:
    """botocore's model of a service, loaded once (a new session parses the model's JSON again: 14 ms for SQS's)."""
    return botocore.session.get_session().get_service_model(service)
