"""AWS JSON 1.0, as Step Functions speaks it: `POST /` with `X-Amz-Target: AWSStepFunctions.<Action>`.

A request goes through, in AWS's order: the size limit (413), the JSON body (SerializationException), the
target (UnknownOperationException), the service model (SerializationException, ValidationException), then the
one service method of the action. Errors go out as `{"__type": code, "message": text}` with the error's
status; a bug anywhere is logged with its traceback and answered as InternalFailure (500) in the same shape,
never with a traceback. Timestamps go out as epoch seconds with millisecond precision, as AWS's JSON protocol
writes them. The Host and Origin headers, and with credentials configured the request's signature, are checked
before a request gets here (server.py, security/gate.py); the `sync-` host prefix of StartSyncExecution and
TestState is accepted there.
"""

from __future__ import annotations

import logging
import time
import uuid
from datetime import UTC, datetime
from typing import Any

import orjson
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response

from stepline.api.actions import find_action
from stepline.api.validation import validate
from stepline.service.errors import (
    SERVICE_UNAVAILABLE_MESSAGE,
    ApiError,
    InternalFailure,
    RequestEntityTooLarge,
    SerializationException,
    ServiceUnavailable,
    StoreUnavailable,
    UnknownOperationException,
    error_body,
)

logger = logging.getLogger(__name__)

CONTENT_TYPE = "application/x-amz-json-1.0"
# AWS: "Maximum request size: 1 MB per request" (Step Functions quotas); definitions may be up to 1 MB.
MAX_REQUEST_BYTES = 1_048_576
# A too-large body is still read (and dropped) up to this size, so that the client sees the 413 rather than a
# connection reset while it is still sending.
_DRAIN_BYTES = 16 * MAX_REQUEST_BYTES

INTERNAL_FAILURE_MESSAGE = "The request processing has failed because of an unknown error, exception or failure."


async def dispatch(request: Request) -> Response:
    """The Starlette endpoint of `POST /`; the service object is `request.app.state.service`."""
    request_id = str(uuid.uuid4())
    started = time.perf_counter()
    target = request.headers.get("x-amz-target", "")
    try:
        try:
            response = await _answer(request, target, request.app.state.service)
        except ApiError as error:
            response = error_response(error)
    except StoreUnavailable:  # a full disk, a lost database: the store said why in the log, once
        response = error_response(ServiceUnavailable(SERVICE_UNAVAILABLE_MESSAGE))
    except ClientDisconnect:
        logger.debug("%s: the client went away", target, extra={"action": target, "request_id": request_id})
        response = Response(status_code=400)
    except Exception:
        logger.exception("Bug while answering %s; answered InternalFailure", target or "a request",
                         extra={"action": target, "request_id": request_id})
        response = error_response(InternalFailure(INTERNAL_FAILURE_MESSAGE))
    response.headers["x-amzn-RequestId"] = request_id
    logger.debug("%s %d %.1f ms", target or "(no target)", response.status_code,
                 (time.perf_counter() - started) * 1000,
                 extra={"action": target, "request_id": request_id, "status": response.status_code})
    return response


async def _answer(request: Request, target: str, service: Any) -> Response:
    body = await read_body(request, getattr(request.app.state, "max_request_bytes", MAX_REQUEST_BYTES))
    document = parse_body(body)
    action = find_action(target)
    if action is None:
        raise UnknownOperationException()
    params = validate(action.name, document)
    method = getattr(service, action.method, None)
    if method is None:
        raise UnknownOperationException(f"Stepline does not implement {action.name} yet.")
    result = await action.call(service, params)
    return json_response(result if result is not None else {})


async def read_body(request: Request, limit: int = MAX_REQUEST_BYTES) -> bytes:
    """The request body; RequestEntityTooLargeException (413) past `limit` bytes."""
    declared = request.headers.get("content-length", "")
    if declared.isdecimal() and int(declared) > _DRAIN_BYTES:
        raise _too_large(limit)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size <= limit:
            chunks.append(chunk)
        elif size > _DRAIN_BYTES:
            break
    if size > limit:
        raise _too_large(limit)
    return b"".join(chunks)


def _too_large(limit: int) -> ApiError:
    return RequestEntityTooLarge(f"Request size exceeds the maximum of {limit} bytes.")


def parse_body(body: bytes) -> dict[str, Any]:
    """The request document; SerializationException (with no message, as AWS sends it) if it is not JSON.

    An empty body counts as `{}`. A document that is not an object gets the message AWS's deserializer
    gives for a value of the wrong kind.
    """
    if not body.strip():
        return {}
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise SerializationException() from None
    if document is None:
        return {}
    if isinstance(document, dict):
        return document
    if isinstance(document, list):
        raise SerializationException("Start of list found where not expected")
    raise SerializationException("Unexpected field type")


# -- responses -----------------------------------------------------------------------------------------------

def _encode(value: Any) -> Any:
    """orjson's fallback: datetimes as epoch seconds (milliseconds kept); anything else is a bug."""
    if isinstance(value, datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return round(value.timestamp(), 3)
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


_OPTIONS = orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_NON_STR_KEYS


def dumps(value: Any) -> bytes:
    """A response document as AWS's JSON protocol writes it."""
    return orjson.dumps(value, default=_encode, option=_OPTIONS)


def json_response(value: Any, status: int = 200) -> Response:
    return Response(dumps(value), status_code=status, media_type=CONTENT_TYPE)


def error_response(error: ApiError) -> Response:
    return json_response(error_body(error), status=error.status)


__all__ = ["CONTENT_TYPE", "MAX_REQUEST_BYTES", "dispatch", "dumps", "error_response",
           "json_response", "parse_body", "read_body"]
