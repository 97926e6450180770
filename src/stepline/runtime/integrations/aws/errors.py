"""Failures of AWS calls, named as Step Functions names them.

Step Functions calls services with the AWS SDK for Java, and its errors are that SDK's exception classes:
- `aws-sdk:*` resources (SDK v2): `<Service>.<Exception>`, the service named as the SDK's client is
  (`DynamoDb`, `S3`, `Sfn`, `SecretsManager`); an error the service's model does not declare is the service's
  base exception (`DynamoDb.DynamoDbException`); the cause is `<message> (Service: DynamoDb, Status Code: 400,
  Request ID: <id>)`.
- optimized integrations (SDK v1): `<Prefix>.<Exception>` with the integration's prefix (`DynamoDB`, `SQS`,
  `SNS`, `Lambda`...) and base exception (`AmazonDynamoDBException`); the cause is `<message> (Service:
  AmazonDynamoDBv2; Status Code: 400; Error Code: <code>; Request ID: <id>; Proxy: null)`.
A modeled error keeps its shape's name, with `Exception` appended when it lacks it (S3's NoSuchKey is
`S3.NoSuchKeyException`). A request that got no answer is `<Prefix>.SdkClientException` ("Unable to execute
HTTP request: ..."), and a role that cannot be assumed is `States.TaskFailed`.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from functools import cache
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError
from botocore.model import ServiceModel

from stepline.errors import ApiError, StatesError
from stepline.runtime.integrations.aws.clients import RoleError


@dataclass(frozen=True, slots=True)
class Naming:
    """How one family of integrations names a service's failures."""

    prefix: str  # "DynamoDb" (aws-sdk) or "DynamoDB" (optimized)
    base_exception: str  # "DynamoDbException", "AmazonDynamoDBException"
    service: str  # the name in causes: "DynamoDb", "AmazonDynamoDBv2"
    sdk_v1: bool  # the cause's format: SDK v1's ("; Error Code: ...; Proxy: null") or v2's


def sdk_naming(model: ServiceModel) -> Naming:
    """The naming of `aws-sdk:*` failures of a service (SDK v2)."""
    name = java_service_name(str(model.service_id))
    return Naming(prefix=name, base_exception=f"{name}Exception", service=name, sdk_v1=False)


def client_error(error: ApiError, operation: str) -> ClientError:
    """A Step Functions API error of this process (a server's own actions) as botocore raises it."""
    response: Any = {"Error": {"Code": error.code, "Message": error.message},
                     "ResponseMetadata": {"HTTPStatusCode": error.status, "RequestId": str(uuid.uuid4())}}
    return ClientError(response, operation)


def states_error(error: Exception, naming: Naming, model: ServiceModel) -> StatesError:
    """A failed call (ClientError, BotoCoreError, RoleError) as Step Functions reports it."""
    if isinstance(error, RoleError):
        return StatesError("States.TaskFailed", f"Unable to assume the role '{error.role_arn}': "
                                                f"{_reason(error.reason)}")
    if isinstance(error, ClientError):
        details = error.response.get("Error", {})
        code = str(details.get("Code") or "")
        message = str(details.get("Message") or code)
        metadata = error.response.get("ResponseMetadata", {})
        status = metadata.get("HTTPStatusCode", 400)
        request_id = metadata.get("RequestId", "")
        # a JSON service that was a query one (SQS) also names the error's shape, as the SDK reads it
        shape_code = str(details.get("QueryErrorCode") or code)
        exception = exception_names(model).get(shape_code, naming.base_exception)
        if naming.sdk_v1:
            cause = (f"{message} (Service: {naming.service}; Status Code: {status}; Error Code: {code}; "
                     f"Request ID: {request_id}; Proxy: null)")
        else:
            extended = metadata.get("HostId")
            cause = (f"{message} (Service: {naming.service}, Status Code: {status}, Request ID: {request_id}"
                     + (f", Extended Request ID: {extended})" if extended else ")"))
        return StatesError(f"{naming.prefix}.{exception}", cause)
    if isinstance(error, NoCredentialsError):
        return StatesError(f"{naming.prefix}.SdkClientException",
                           "Unable to load credentials from any of the providers in the chain: " + str(error))
    return StatesError(f"{naming.prefix}.SdkClientException", f"Unable to execute HTTP request: {_reason(error)}")


@cache
def exception_names(model: ServiceModel) -> dict[str, str]:
    """Error codes a service answers (its shapes' names and their query codes) -> the SDK's exception names."""
    names: dict[str, str] = {}
    for shape_name in model.shape_names:
        shape = model.shape_for(shape_name)
        if not shape.metadata.get("exception"):
            continue
        exception = shape_name if shape_name.endswith("Exception") else f"{shape_name}Exception"
        names[shape_name] = exception
        code = shape.metadata.get("error", {}).get("code")
        if code:
            names.setdefault(code, exception)
    return names


def java_service_name(service_id: str) -> str:
    """The name the AWS SDK for Java v2 gives a service's client, from the model's serviceId: "DynamoDB" ->
    "DynamoDb", "SFN" -> "Sfn", "Secrets Manager" -> "SecretsManager", "CloudWatch Logs" -> "CloudWatchLogs"."""
    words = re.sub(r"[^A-Za-z0-9]+", " ", service_id)
    words = re.sub(r"(?<=[a-z])(?=[A-Z][a-zA-Z0-9])", " ", words)  # camelCase
    words = re.sub(r"([A-Z]+)([A-Z][a-z])", r"\1 \2", words)  # an acronym, then a word
    words = re.sub(r"([0-9])([a-zA-Z])", r"\1 \2", words)
    name = "".join(word[:1].upper() + word[1:].lower() for word in words.split())
    for prefix in ("Amazon", "Aws"):
        name = name.removeprefix(prefix)
    return name.removesuffix("Service")


def _reason(error: Exception) -> str:
    if isinstance(error, ClientError):
        details = error.response.get("Error", {})
        return f"{details.get('Code')}: {details.get('Message')}"
    if isinstance(error, BotoCoreError):
        return str(error)
    return f"{type(error).__name__}: {error}"
