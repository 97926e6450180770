"""A Task's JSON as an AWS operation's request, and the operation's response as the Task's result, walking
botocore's shapes as Step Functions converts between JSON and the AWS SDK's objects.

Members are named in PascalCase whatever the model's case (API Gateway's `restApiId` is `RestApiId`); a member
named `Equals` is `EqualsValue`. A null value is an absent member (the service says whether one is required). A
blob that is an HTTP payload (S3's Body, Lambda's Payload) is text: a string is sent as its UTF-8 bytes, another
JSON value as its JSON text, and the response's bytes come back as a string; any other blob is base64 text both
ways. Timestamps come back as ISO 8601 in UTC (`2024-05-01T12:00:00Z`, with milliseconds when there are some).
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from botocore.model import ListShape, MapShape, Shape, StructureShape

from stepline.errors import StatesError
from stepline.jsonvalue import JSON, dumps

_RENAMED = {"Equals": "EqualsValue"}  # member -> its name in Step Functions, where the Java SDK renames one
_SCALARS: dict[str, tuple[type, ...]] = {
    "string": (str,), "boolean": (bool,), "integer": (int,), "long": (int,), "float": (int, float),
    "double": (int, float), "timestamp": (str, int, float),
}


def step_functions_name(member: str) -> str:
    return _RENAMED.get(member) or member[:1].upper() + member[1:]


def request(shape: StructureShape | None, parameters: JSON) -> dict[str, Any]:
    """The operation's parameters from a Task's; StatesError("States.Runtime") for a field the operation does
    not have or a value of the wrong kind, with Step Functions' wording."""
    if parameters is None:
        parameters = {}
    if shape is None:
        if parameters:
            raise cannot_start(parameters, f"The field \"{next(iter(parameters))}\" is not supported by Step "
                                            "Functions" if isinstance(parameters, dict) else
                                "The value of the Parameters has an invalid format")
        return {}
    try:
        value = _request(shape, parameters, "Parameters", payload=False)
    except _Unsupported as problem:
        raise cannot_start(parameters, str(problem)) from None
    return value


def with_idempotency_token(shape: StructureShape | None, request: dict[str, Any], key: str) -> dict[str, Any]:
    """The request with the invocation's key in the member the model marks as an idempotency token, when the Task
    left it out (the SDKs fill it with a random one; this one is the same when the call is sent again)."""
    for name, member in (shape.members.items() if shape is not None else ()):
        if member.metadata.get("idempotencyToken") and name not in request:
            return {**request, name: key}
    return request


def response(shape: Shape | None, value: Mapping[str, Any], *, epoch_millis: bool = False) -> JSON:
    """A Task's result from botocore's parsed response (or a part of it, by its shape). `epoch_millis`: timestamps
    as epoch milliseconds, as the optimized integrations (the AWS SDK for Java v1) give them."""
    if shape is None:
        return {}
    return _response(shape, value, payload=False, epoch_millis=epoch_millis)


class _Unsupported(Exception):
    pass


def _request(shape: Shape, value: JSON, field: str, *, payload: bool) -> Any:
    kind = shape.type_name
    if isinstance(shape, StructureShape):
        if not isinstance(value, dict):
            raise _Unsupported(f"The value of the field '{field}' has an invalid format")
        members = {step_functions_name(name): name for name in shape.members}
        body = shape.serialization.get("payload")
        result = {}
        for key, item in value.items():
            member = members.get(key)
            if member is None:
                raise _Unsupported(f"The field \"{key}\" is not supported by Step Functions")
            if item is not None:
                result[member] = _request(shape.members[member], item, key, payload=member == body)
        return result
    if isinstance(shape, ListShape):
        if not isinstance(value, list):
            raise _Unsupported(f"The value of the field '{field}' has an invalid format")
        return [_request(shape.member, item, field, payload=False) for item in value]
    if isinstance(shape, MapShape):
        if not isinstance(value, dict):
            raise _Unsupported(f"The value of the field '{field}' has an invalid format")
        return {key: _request(shape.value, item, field, payload=False) for key, item in value.items()}
    if kind == "blob":
        if payload:
            return value.encode() if isinstance(value, str) else dumps(value).encode()
        if isinstance(value, str):
            try:
                return base64.b64decode(value, validate=True)
            except binascii.Error:
                pass
        raise _Unsupported(f"The value of the field '{field}' has an invalid format")
    kinds = _SCALARS.get(kind)
    if kinds is not None and (not isinstance(value, kinds) or (isinstance(value, bool) and bool not in kinds)):
        raise _Unsupported(f"The value of the field '{field}' has an invalid format")
    return value


def _response(shape: Shape, value: Any, *, payload: bool, epoch_millis: bool) -> JSON:
    if isinstance(shape, StructureShape) and isinstance(value, Mapping):
        body = shape.serialization.get("payload")
        return {step_functions_name(name): _response(member, value[name], payload=name == body,
                                                     epoch_millis=epoch_millis)
                for name, member in shape.members.items() if name in value}
    if isinstance(shape, ListShape) and isinstance(value, list):
        return [_response(shape.member, item, payload=False, epoch_millis=epoch_millis) for item in value]
    if isinstance(shape, MapShape) and isinstance(value, Mapping):
        return {str(key): _response(shape.value, item, payload=False, epoch_millis=epoch_millis)
                for key, item in value.items()}
    if isinstance(value, (bytes, bytearray)):
        return bytes(value).decode("utf-8", errors="replace") if payload else base64.b64encode(value).decode()
    if isinstance(value, datetime):
        return int(value.timestamp() * 1000) if epoch_millis else iso_timestamp(value)
    return value


def iso_timestamp(moment: datetime) -> str:
    """As Java's Instant prints itself: seconds, or milliseconds when there are some, in UTC."""
    moment = moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)
    text = moment.strftime("%Y-%m-%dT%H:%M:%S")
    if moment.microsecond:
        text += f".{moment.microsecond // 1000:03d}" if moment.microsecond % 1000 == 0 else f".{moment.microsecond:06d}"
    return text + "Z"


def cannot_start(parameters: JSON, problem: str) -> StatesError:
    """States.Runtime for parameters Step Functions would refuse, in its wording."""
    return StatesError("States.Runtime", f"The Parameters '{dumps(parameters)}' could not be used to start the "
                                         f"Task: [{problem}]")
