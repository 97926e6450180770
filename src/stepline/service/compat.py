"""Step Functions Local's shapes, for test suites written against Local (`stepline serve --compat sfn-local`).

AWS's shapes are the default. Only differences confirmed from Local's own output are reproduced
(docs/sfn-local.md lists them and where each was seen):

- An `aws-sdk` Task's events (TaskScheduled, TaskStarted, TaskSucceeded, ...) name the integration as
  `resourceType: "aws-sdk"`, `resource: "comprehend:detectSentiment"` where AWS records
  `resourceType: "aws-sdk:comprehend"`, `resource: "detectSentiment"`.

The history is stored in AWS's shape; the difference is applied when it is read (GetExecutionHistory).
"""

from __future__ import annotations

from typing import Any

SFN_LOCAL = "sfn-local"
COMPAT_MODES = (SFN_LOCAL,)
_SDK_PREFIX = "aws-sdk:"


def check_mode(mode: str | None) -> None:
    """ValueError for a compatibility mode stepline does not have."""
    if mode is not None and mode not in COMPAT_MODES:
        raise ValueError(f"the compatibility mode must be one of {', '.join(COMPAT_MODES)}, not {mode!r}")


def sfn_local_event(event: dict[str, Any]) -> dict[str, Any]:
    """A history event as Step Functions Local records it."""
    for key, details in event.items():
        if key.endswith("EventDetails") and isinstance(details, dict):
            resource_type = details.get("resourceType")
            if isinstance(resource_type, str) and resource_type.startswith(_SDK_PREFIX):
                service = resource_type[len(_SDK_PREFIX):]
                return {**event, key: {**details, "resourceType": "aws-sdk",
                                       "resource": f"{service}:{details.get('resource', '')}"}}
    return event
