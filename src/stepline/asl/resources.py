"""Task Resource ARNs: which ones Step Functions recognizes, and what an EXPRESS machine may not call."""

from __future__ import annotations

import re
from typing import Final

# Optimized integrations (Developer Guide, "Integrating optimized services") whose actions are a closed set:
# service -> action -> the integration patterns it supports ("" is Request Response).
_RR_TOKEN = ("", ".waitForTaskToken")
OPTIMIZED_ACTIONS: Final[dict[str, dict[str, tuple[str, ...]]]] = {
    "lambda": {"invoke": _RR_TOKEN},
    "dynamodb": {"getItem": ("",), "putItem": ("",), "updateItem": ("",), "deleteItem": ("",)},
    "sqs": {"sendMessage": _RR_TOKEN},
    "sns": {"publish": _RR_TOKEN},
    "events": {"putEvents": _RR_TOKEN},
    "states": {"startExecution": ("", ".sync", ".sync:2", ".waitForTaskToken")},
    "apigateway": {"invoke": _RR_TOKEN},
    "http": {"invoke": ("",)},
}

_SERVICE_ARN = re.compile(r"arn:[a-z-]+:states:::(?P<service>[A-Za-z0-9-]+):(?P<rest>.+)\Z")
_ACTIVITY_ARN = re.compile(r"arn:[a-z-]+:states:[^:]*:[^:]*:activity:.+\Z")
_ANY_ARN = re.compile(r"arn:[a-z-]+:[^:]+:[^:]*:[^:]*:.+\Z")
_SUFFIX = re.compile(r"(?P<action>[^.]+)(?P<suffix>\.sync(?::2)?|\.waitForTaskToken)?\Z")


def not_recognized(resource: str) -> str:
    return (f"The resource provided {resource} is not recognized. The value is not a valid resource ARN, "
            "or the resource is not available in this region.")


def resource_problem(resource: str) -> str | None:
    """Why Step Functions would not recognize this Task resource, or None when it would."""
    match = _SERVICE_ARN.match(resource)
    if match is None:
        return None if _ANY_ARN.match(resource) else not_recognized(resource)
    service, rest = match.group("service"), match.group("rest")
    if service == "aws-sdk":
        return None if re.fullmatch(r"[A-Za-z0-9-]+:[A-Za-z0-9]+(\.waitForTaskToken)?", rest) else (
            not_recognized(resource))
    actions = OPTIMIZED_ACTIONS.get(service)
    if actions is None:
        return None  # an integration whose action list stepline does not keep; accepted as AWS would
    parts = _SUFFIX.match(rest)
    if parts is None or parts.group("action") not in actions:
        return not_recognized(resource)
    if (parts.group("suffix") or "") not in actions[parts.group("action")]:
        return not_recognized(resource)
    return None


def express_problem(resource: str) -> str | None:
    """Why an EXPRESS state machine may not use this resource (Developer Guide, "Standard and Express")."""
    if resource.endswith(".waitForTaskToken"):
        return "Express state machine does not support '.waitForTaskToken' service integration "
    if resource.endswith(".sync") or resource.endswith(".sync:2"):
        return "Express state machine does not support '.sync' service integration"
    if _ACTIVITY_ARN.match(resource):
        return "Express state machine does not support Activity ARN"
    return None


ITEM_READER_RESOURCES: Final = ("s3:getObject", "s3:listObjectsV2")
RESULT_WRITER_RESOURCES: Final = ("s3:putObject",)


def s3_resource_ok(resource: str, allowed: tuple[str, ...]) -> bool:
    match = _SERVICE_ARN.match(resource)
    return match is not None and f"{match.group('service')}:{match.group('rest')}" in allowed
