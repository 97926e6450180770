"""TestState's mocked results checked against the output shape of the API the Task calls, as strictly as
`mock.fieldValidationMode` asks: STRICT (the default) wants every required field, at every depth, and every
present field of the right type; PRESENT only the latter; NONE nothing.

The shapes are botocore's service models (the ones AWS's SDKs are generated from), found for every Task that
calls an AWS API and answers at once:

- `aws-sdk:<service>:<action>`: the service as Step Functions names it (the AWS SDK for Java's client in lower
  case: `sfn`, `eventbridge`, `cloudwatchlogs`, `elasticloadbalancingv2`, ...), the action in camelCase;
- an optimized integration (`lambda:invoke`, `sqs:sendMessage`, `states:startExecution`, `ecs:runTask`, ...):
  the API the integration calls (Lambda's Invoke, SQS's SendMessage, ...), as the optimized integrations' table
  names it (runtime/integrations/aws/optimized.py: `elasticmapreduce:createCluster` is EMR's RunJobFlow,
  `bedrock:invokeModel` the runtime's InvokeModel), else by its service's name in botocore and the action in
  PascalCase.

A `.sync` Task's result is its job's description: the output of the operation that describes the job
(`DescribeExecution` for `states:startExecution.sync` and `.sync:2`, ECS's `Task` for `ecs:runTask.sync`, ...; see
runtime/integrations/aws/jobs.py), which AWS checks a mock against too. Activities, `.waitForTaskToken` tasks, HTTP
and API Gateway tasks, Kubernetes calls, CodeBuild's wrapped builds and Lambda function ARNs have no output shape:
their mocks are not checked. A result's fields are named as Step Functions names
them (PascalCase); a field the shape does not have is let through. Kinds: a structure (or union) is an object, a
list an array, a map an object whose values have the map's value shape, a string (or timestamp, which Step
Functions returns as ISO 8601 text) a string, an enum one of its values, a number (integer, long, float, double)
any JSON number, a boolean a boolean; a blob is text for an `aws-sdk:*` Task (base64, or an HTTP payload's text,
as that integration returns it) and any JSON for an optimized one (Lambda's and Bedrock's JSON payloads); a
document may be any JSON. A null is an absent field.
"""

from __future__ import annotations

import botocore.exceptions
from botocore.model import ListShape, MapShape, OperationModel, ServiceModel, Shape, StringShape, StructureShape

from stepline.engine.resources import Resource
from stepline.errors import StatesError
from stepline.jsonvalue import JSON
from stepline.runtime.integrations.aws.jobs import result_shape
from stepline.runtime.integrations.aws.optimized import api_for
from stepline.runtime.integrations.aws.optimized import service_model as optimized_service_model
from stepline.runtime.integrations.aws.sdk import service_model
from stepline.runtime.integrations.aws.shapes import step_functions_name
from stepline.service import errors

# Optimized integrations outside optimized.py's table: the resource's service -> botocore's (states:startExecution)
_BOTOCORE_SERVICES = {"states": "stepfunctions"}
_NUMBERS = frozenset({"integer", "long", "float", "double"})


def check_mock_result(result: JSON, resource: Resource, mode: str) -> None:
    """Raise AWS's ValidationException when result does not fit the output shape of the API resource calls."""
    if mode == "NONE":
        return
    shape = output_shape(resource)
    if shape is None:
        return
    text_blobs = resource.resource_type.startswith("aws-sdk:")
    problem = _problem(result, shape, "result", strict=mode == "STRICT", text_blobs=text_blobs)
    if problem is not None:
        raise errors.ValidationException(f"Mock result schema validation error: {problem}")


def output_shape(resource: Resource) -> StructureShape | None:
    """The shape of a Task's result: the output of the API a request-response Task calls, the job description a
    `.sync` Task returns; None when stepline knows no such API."""
    if resource.kind != "service" or resource.pattern == "callback" or not resource.name:
        return None
    action = resource.name
    if resource.pattern == "sync":
        action = action.split(".sync")[0]
        if resource.resource_type == "states" and action == "startExecution":  # .sync and .sync:2 alike
            model = _optimized_model("stepfunctions")
            return _output(model, "DescribeExecution") if model is not None else None
        if resource.resource_type.startswith("aws-sdk:"):
            return None
        return result_shape(resource.resource_type, action)
    if resource.resource_type.startswith("aws-sdk:"):
        try:
            _, model = service_model(resource.resource_type.split(":", 1)[1])
        except StatesError:
            return None
        return _output(model, action[:1].upper() + action[1:])
    api = api_for(resource.resource_type, action)
    if api is not None:
        service, operation = api.service, api.actions[action]
    else:
        service = _BOTOCORE_SERVICES.get(resource.resource_type, resource.resource_type)
        operation = action[:1].upper() + action[1:]
    optimized = _optimized_model(service)
    return _output(optimized, operation) if optimized is not None else None


def _output(model: ServiceModel, operation: str) -> StructureShape | None:
    if operation not in model.operation_names:
        return None
    operation_model: OperationModel = model.operation_model(operation)
    return operation_model.output_shape


def _optimized_model(service: str) -> ServiceModel | None:
    """botocore's model of a service (by botocore's name; optimized.py's cache), or None when it has none."""
    try:
        return optimized_service_model(service)
    except (botocore.exceptions.UnknownServiceError, botocore.exceptions.DataNotFoundError):
        return None


def _problem(value: JSON, shape: Shape, label: str, *, strict: bool, text_blobs: bool) -> str | None:
    """The first way value does not fit shape, worded as AWS words it; None when it fits. `text_blobs`: a blob is
    text (an AWS SDK integration's), not any JSON (an optimized integration's JSON payload)."""
    if value is None:
        return None
    kind = shape.type_name
    if isinstance(shape, StructureShape) and not shape.is_document_type:
        if not isinstance(value, dict):
            return f"Field '{label}' must be an object"
        if strict:
            for required in shape.required_members:
                if value.get(step_functions_name(required)) is None:
                    return f"Required field '{step_functions_name(required)}' is missing"
        for member, member_shape in shape.members.items():
            name = step_functions_name(member)
            if name in value:
                problem = _problem(value[name], member_shape, name, strict=strict, text_blobs=text_blobs)
                if problem is not None:
                    return problem
        return None
    if isinstance(shape, ListShape):
        if not isinstance(value, list):
            return f"Field '{label}' must be an array"
        return next((p for item in value
                     if (p := _problem(item, shape.member, label, strict=strict, text_blobs=text_blobs))), None)
    if isinstance(shape, MapShape):
        if not isinstance(value, dict):
            return f"Field '{label}' must be an object"
        return next((p for item in value.values()
                     if (p := _problem(item, shape.value, label, strict=strict, text_blobs=text_blobs))),
                    None)
    if kind in ("string", "timestamp"):
        if not isinstance(value, str):
            return f"Field '{label}' must be a string"
        if isinstance(shape, StringShape) and shape.enum and value not in shape.enum:
            return f"Field '{label}' is not an expected value"
        return None
    if kind in _NUMBERS:
        return None if isinstance(value, (int, float)) and not isinstance(value, bool) else (
            f"Field '{label}' must be a number")
    if kind == "boolean":
        return None if isinstance(value, bool) else f"Field '{label}' must be a boolean"
    if kind == "blob" and text_blobs:
        return None if isinstance(value, str) else f"Field '{label}' must be a string"
    return None  # documents, and an optimized integration's blobs
