"""What a Task's Resource names, as the history reports it. Pure."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Resource:
    arn: str
    kind: str  # "lambda" (a function ARN), "activity", or "service" (arn:aws:states:::service:action)
    resource_type: str  # "lambda", "sqs", "aws-sdk:dynamodb", ...
    name: str  # "invoke", "sendMessage.waitForTaskToken", the function name, ...
    pattern: str  # "request" | "callback" (.waitForTaskToken) | "sync" (.sync, .sync:2)
    region: str


def describe_resource(arn: str, default_region: str = "us-east-1") -> Resource:
    parts = arn.split(":")
    region = parts[3] if len(parts) > 3 and parts[3] else default_region
    if len(parts) >= 7 and parts[2] == "lambda" and parts[5] == "function":
        return Resource(arn, "lambda", "lambda", parts[6], "request", region)
    if len(parts) >= 7 and parts[2] == "states" and parts[5] == "activity":
        return Resource(arn, "activity", "activity", parts[6], "request", region)
    service = parts[5:] if len(parts) > 5 else parts[-1:]
    if service and service[0] == "aws-sdk" and len(service) > 2:
        resource_type, name = f"aws-sdk:{service[1]}", ":".join(service[2:])
    else:
        resource_type, name = service[0], ":".join(service[1:])
    if name.endswith(".waitForTaskToken"):
        pattern = "callback"
    elif name.endswith(".sync") or ".sync:" in name:
        pattern = "sync"
    else:
        pattern = "request"
    return Resource(arn, "service", resource_type, name, pattern, region)


def map_run_resource(map_run_arn: str) -> Resource:
    """What a distributed Map asks the runtime for: its Map Run, answered when the run ends (as a `.sync` job)."""
    return Resource(map_run_arn, "mapRun", "mapRun", "run", "sync", map_run_arn.split(":")[3])
