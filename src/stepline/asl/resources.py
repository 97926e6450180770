"""Task Resource ARNs: which ones Step Functions recognizes, and what an EXPRESS machine may not call."""

from __future__ import annotations

import re
from typing import Final

# Optimized integrations (Developer Guide, "Integrating optimized services" and each service's page): service ->
# action -> the integration patterns it supports ("" is Request Response). The one list of their action names: the
# runtime's tables (runtime/integrations/aws/optimized.py and jobs.py) are made from it and checked against it.
_RR: Final = ("",)
_TOKEN: Final = ("", ".waitForTaskToken")
_SYNC: Final = ("", ".sync")
_SYNC_TOKEN: Final = ("", ".sync", ".waitForTaskToken")
_SAGEMAKER_JOBS: Final = ("createTrainingJob", "createTransformJob", "createProcessingJob", "createLabelingJob",
                          "createHyperParameterTuningJob")
OPTIMIZED_ACTIONS: Final[dict[str, dict[str, tuple[str, ...]]]] = {
    "lambda": {"invoke": _TOKEN},
    "dynamodb": {"getItem": _RR, "putItem": _RR, "updateItem": _RR, "deleteItem": _RR},
    "sqs": {"sendMessage": _TOKEN},
    "sns": {"publish": _TOKEN},
    "events": {"putEvents": _TOKEN},
    "states": {"startExecution": ("", ".sync", ".sync:2", ".waitForTaskToken")},
    "apigateway": {"invoke": _TOKEN},
    "http": {"invoke": _RR},
    "bedrock": {"invokeModel": _RR, "createModelCustomizationJob": _SYNC_TOKEN},
    "batch": {"submitJob": _SYNC},
    "ecs": {"runTask": _SYNC_TOKEN},
    "glue": {"startJobRun": _SYNC},
    "databrew": {"startJobRun": _SYNC},
    "athena": {"startQueryExecution": _SYNC, "stopQueryExecution": _RR, "getQueryExecution": _RR,
               "getQueryResults": _RR},
    "codebuild": {"startBuild": _SYNC, "stopBuild": _RR, "batchDeleteBuilds": _RR, "batchGetReports": _RR,
                  "startBuildBatch": _SYNC, "stopBuildBatch": _RR, "retryBuildBatch": _SYNC, "deleteBuildBatch": _RR},
    "sagemaker": {"createEndpoint": _RR, "createEndpointConfig": _RR, "createModel": _RR, "updateEndpoint": _RR,
                  **{job: _SYNC for job in _SAGEMAKER_JOBS}},
    "elasticmapreduce": {"createCluster": _SYNC, "terminateCluster": _SYNC, "addStep": _SYNC, "cancelStep": _RR,
                         "setClusterTerminationProtection": _RR, "modifyInstanceFleetByName": _RR,
                         "modifyInstanceGroupByName": _RR},
    "emr-serverless": {"createApplication": _SYNC, "startApplication": _SYNC, "stopApplication": _SYNC,
                       "deleteApplication": _SYNC, "startJobRun": _SYNC, "cancelJobRun": _SYNC},
    "emr-containers": {"createVirtualCluster": _RR, "deleteVirtualCluster": _SYNC, "startJobRun": _SYNC},
    "eks": {"createCluster": _SYNC, "deleteCluster": _SYNC, "createNodegroup": _SYNC, "deleteNodegroup": _SYNC,
            "createFargateProfile": _SYNC, "deleteFargateProfile": _SYNC, "runJob": _SYNC_TOKEN, "call": _RR},
    "mediaconvert": {"createJob": _SYNC},
}


def optimized_patterns(service: str, action: str) -> tuple[str, ...]:
    """The integration patterns ("", ".sync", ...) of `arn:aws:states:::<service>:<action>`; () when AWS has no
    such optimized action."""
    return OPTIMIZED_ACTIONS.get(service, {}).get(action, ())


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
