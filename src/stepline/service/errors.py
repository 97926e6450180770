"""Errors of the Step Functions API, as AWS names them (`__type`) with their HTTP status.

Every surface reports these: the API server as {"__type": code, "message": ...}, the CLI and the console
as text.
"""

from __future__ import annotations

from stepline.errors import ApiError

# what the store raises, for the surfaces: StoreUnavailable is answered as ServiceUnavailable by every one
from stepline.runtime.store.base import StoreError, StoreUnavailable

__all__ = ["ApiError", "StoreError", "StoreUnavailable", "error_body"]  # besides the errors below


def error_body(error: ApiError) -> dict[str, str]:
    """AWS's JSON error shape, `{"__type": code, "message": text}`; no message member when AWS sends none (empty
    message)."""
    body = {"__type": error.code}
    if error.message:
        body[error.message_key] = error.message
    return body


def _error(code: str, status: int = 400, message_key: str = "message") -> type[ApiError]:
    return type(code, (ApiError,), {"code": code, "status": status, "message_key": message_key,
                                    "__doc__": f"AWS's {code}."})


ActivityAlreadyExists = _error("ActivityAlreadyExists")
ActivityDoesNotExist = _error("ActivityDoesNotExist")
ActivityLimitExceeded = _error("ActivityLimitExceeded")
ActivityWorkerLimitExceeded = _error("ActivityWorkerLimitExceeded")
ConflictException = _error("ConflictException")
ExecutionAlreadyExists = _error("ExecutionAlreadyExists")
ExecutionDoesNotExist = _error("ExecutionDoesNotExist")
ExecutionLimitExceeded = _error("ExecutionLimitExceeded")
ExecutionNotRedrivable = _error("ExecutionNotRedrivable")
InvalidArn = _error("InvalidArn")
InvalidDefinition = _error("InvalidDefinition")
InvalidEncryptionConfiguration = _error("InvalidEncryptionConfiguration")
InvalidExecutionInput = _error("InvalidExecutionInput")
InvalidLoggingConfiguration = _error("InvalidLoggingConfiguration")
InvalidName = _error("InvalidName")
InvalidOutput = _error("InvalidOutput")
InvalidToken = _error("InvalidToken")
InvalidTracingConfiguration = _error("InvalidTracingConfiguration")
MissingRequiredParameter = _error("MissingRequiredParameter")
ResourceNotFound = _error("ResourceNotFound")
ServiceQuotaExceededException = _error("ServiceQuotaExceededException")
StateMachineAlreadyExists = _error("StateMachineAlreadyExists")
StateMachineDeleting = _error("StateMachineDeleting")
StateMachineDoesNotExist = _error("StateMachineDoesNotExist")
StateMachineLimitExceeded = _error("StateMachineLimitExceeded")
StateMachineTypeNotSupported = _error("StateMachineTypeNotSupported")
TaskDoesNotExist = _error("TaskDoesNotExist")
TaskTimedOut = _error("TaskTimedOut")
TooManyTags = _error("TooManyTags")
ValidationException = _error("ValidationException")
UnknownOperationException = _error("UnknownOperationException")
SerializationException = _error("SerializationException", message_key="Message")
RequestEntityTooLarge = _error("RequestEntityTooLargeException", 413)
InternalFailure = _error("InternalFailure", 500)
AccessDeniedException = _error("AccessDeniedException", 403)
ServiceUnavailable = _error("ServiceUnavailable", 503)
# Authentication (security/): the status AWS's Common Errors page gives MissingAuthenticationToken, and the 400
# the JSON services answer a bad key or signature with
MissingAuthenticationTokenException = _error("MissingAuthenticationTokenException", 403)
UnrecognizedClientException = _error("UnrecognizedClientException")
InvalidSignatureException = _error("InvalidSignatureException")
IncompleteSignatureException = _error("IncompleteSignatureException")  # the store cannot be written for now: retry later
SERVICE_UNAVAILABLE_MESSAGE = "The store cannot be written for now (the server's log says why); try again later"
