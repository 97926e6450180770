"""The optimized integrations' calls (request-response, and `.waitForTaskToken` where AWS allows it), on AWS or at
the configured endpoints; jobs.py waits for the `.sync` ones, which start with the same call.

One table (APIS) lists, per service, the actions AWS documents ("Integrating optimized services") and the
operation each one calls:
- Lambda `invoke` (and Lambda function ARNs no local function serves); DynamoDB get/put/update/deleteItem; SQS
  sendMessage; SNS publish; EventBridge putEvents; Bedrock invokeModel and createModelCustomizationJob;
- Batch submitJob; ECS runTask; Glue startJobRun; Glue DataBrew startJobRun; Athena start/stop/getQueryExecution
  and getQueryResults; CodeBuild startBuild, stopBuild, batchDeleteBuilds, batchGetReports, startBuildBatch,
  stopBuildBatch, retryBuildBatch, deleteBuildBatch; SageMaker createEndpoint, createEndpointConfig, createModel,
  updateEndpoint and create(Training|Transform|Processing|Labeling|HyperParameterTuning)Job;
- EMR (`elasticmapreduce:`) createCluster, terminateCluster, addStep, cancelStep, setClusterTerminationProtection,
  modifyInstanceFleetByName, modifyInstanceGroupByName: the documented wrappers of RunJobFlow, TerminateJobFlows,
  AddJobFlowSteps, CancelSteps, SetTerminationProtection, ModifyInstanceFleet and ModifyInstanceGroups (ClusterId
  for JobFlowId(s), one Step or StepId for lists, an instance fleet or group named instead of its id: looked up
  with ListInstanceFleets or ListInstanceGroups; their responses renamed back: ClusterId, StepId, CancelStepsInfo);
- EMR Serverless create/start/stop/deleteApplication, startJobRun, cancelJobRun (start, stop and delete answer
  {"ApplicationId"}); EMR on EKS create/deleteVirtualCluster, startJobRun; EKS create/deleteCluster,
  create/deleteNodegroup, create/deleteFargateProfile; MediaConvert createJob (tagged ManagedByService:
  AWSStepFunctions, as Step Functions tags it).

Parameters are the operation's members (shapes.py); a JSON value where the API takes text (SQS MessageBody, SNS
Message, an EventBridge entry's Detail, Lambda's Payload, Bedrock's Body) is sent as its JSON text. Results are
the response as Step Functions' SDK (Java v1) gives it: members in PascalCase, timestamps as epoch milliseconds,
plus `SdkHttpMetadata` (the HTTP headers and status) and `SdkResponseMetadata` (the request id), except
EventBridge's and Bedrock invokeModel's, which are the members alone. Failures are `<Prefix>.<Exception>`
(errors.py). Documented specifics: putEvents appends the execution's and its state machine's ARNs to each
entry's Resources and fails with `EventBridge.FailedEntry` (the response as its cause) when an entry failed; a
Lambda function's error is named by its payload's errorType. An idempotency token the Task leaves out is the
invocation's key (the models' marked ones, and CodeBuild's, which its model does not mark); Step Functions adds
none to the others, and neither does stepline (see README).
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from typing import Any

import botocore.session
from botocore.exceptions import BotoCoreError, ClientError
from botocore.model import ServiceModel

from stepline.asl.resources import OPTIMIZED_ACTIONS, optimized_patterns
from stepline.errors import StatesError
from stepline.jsonvalue import JSON, dumps, loads
from stepline.runtime.integrations.aws import shapes
from stepline.runtime.integrations.aws.clients import AwsClients, RoleError
from stepline.runtime.integrations.aws.errors import Naming, states_error
from stepline.runtime.integrations.registry import AwaitCallback, Integration, Outcome, Succeeded, TaskCall

Parameters = dict[str, Any]
Send = Callable[[str, Parameters], Awaitable[dict]]  # (operation, request) -> response, errors named
Prepare = Callable[[Parameters, TaskCall, Send], Awaitable[Parameters]]  # the Task's parameters -> the API's
Answer = Callable[[dict, Parameters], dict]  # (the result, the request sent) -> the integration's result


@dataclass(frozen=True, slots=True, kw_only=True)
class Api:
    """Optimized actions of one Resource type that call one AWS service."""

    resource_type: str  # arn:aws:states:::<resource_type>:<action>
    service: str  # botocore's name
    naming: Naming
    actions: dict[str, str]  # action -> operation
    sdk_metadata: bool = True  # whether results carry SdkHttpMetadata and SdkResponseMetadata
    prepare: dict[str, Prepare] = field(default_factory=dict)  # by action
    answer: dict[str, Answer] = field(default_factory=dict)  # by action
    tokens: dict[str, str] = field(default_factory=dict)  # operation -> an idempotency token its model does not mark


@dataclass(frozen=True, slots=True)
class Sent:
    """An optimized call made: the request sent, botocore's response and the integration's result."""

    request: Parameters
    response: dict
    output: dict[str, JSON]


def _v1(prefix: str, service: str, base_exception: str) -> Naming:
    """The naming of an optimized integration's failures (the AWS SDK for Java v1's)."""
    return Naming(prefix=prefix, base_exception=base_exception, service=service, sdk_v1=True)


def _text(value: JSON) -> JSON:
    return value if isinstance(value, str) or value is None else dumps(value)


def _as_text(member: str) -> Prepare:
    """A member the API takes as text, given as JSON: sent as its JSON text."""
    async def prepare(parameters: Parameters, call: TaskCall, send: Send) -> Parameters:
        return {**parameters, member: _text(parameters[member])} if member in parameters else parameters
    return prepare


async def _events(parameters: Parameters, call: TaskCall, send: Send) -> Parameters:
    entries = parameters.get("Entries")
    if not isinstance(entries, list):
        return parameters
    arns = [call.execution_arn, state_machine_arn(call.execution_arn)]
    return {**parameters, "Entries": [
        {**entry, **({"Detail": _text(entry["Detail"])} if "Detail" in entry else {}),
         "Resources": [*(entry.get("Resources") or []), *arns]} if isinstance(entry, dict) else entry
        for entry in entries]}


def _renamed(renames: dict[str, tuple[str, bool]]) -> Prepare:
    """Members the integration names differently: {its name: (the API's, whether the API takes a list of it)}.
    The API's own name is refused, as Step Functions refuses it."""
    async def prepare(parameters: Parameters, call: TaskCall, send: Send) -> Parameters:
        result = dict(parameters)
        for given, (api_name, listed) in renames.items():
            if api_name in result:
                raise shapes.cannot_start(parameters, f"The field \"{api_name}\" is not supported by Step Functions")
            if given in result:
                value = result.pop(given)
                result[api_name] = [value] if listed else value
        return result
    return prepare


async def _emr_cluster(parameters: Parameters, call: TaskCall, send: Send) -> Parameters:
    """createCluster is RunJobFlow without Steps, and with Instances.KeepJobFlowAliveWhenNoSteps true."""
    if "Steps" in parameters:
        raise shapes.cannot_start(parameters, "The field \"Steps\" is not supported by Step Functions")
    instances = parameters.get("Instances")
    if not isinstance(instances, dict) or instances.get("KeepJobFlowAliveWhenNoSteps") is not True:
        raise shapes.cannot_start(parameters, "The field 'Instances.KeepJobFlowAliveWhenNoSteps' is required and "
                                              "must be true")
    return parameters


def _by_name(kind: str, listing: str, items: str, target: str, listed: bool) -> Prepare:
    """modifyInstance<kind>ByName: the <kind> named Instance<kind>Name, its id found with List<kind>s."""
    name_field, config_field = f"Instance{kind}Name", f"Instance{kind}"

    async def prepare(parameters: Parameters, call: TaskCall, send: Send) -> Parameters:
        name, config = parameters.get(name_field), parameters.get(config_field)
        if not isinstance(name, str) or not isinstance(config, dict) or f"Instance{kind}Id" in config:
            raise shapes.cannot_start(parameters, f"The fields '{name_field}' (a string) and '{config_field}' (an "
                                                  f"object without Instance{kind}Id) are required")
        rest = {key: value for key, value in parameters.items() if key not in (name_field, config_field)}
        found, marker = None, None
        while found is None:
            page = await send(listing, {"ClusterId": parameters.get("ClusterId"),
                                        **({"Marker": marker} if marker else {})})
            found = next((item["Id"] for item in page.get(items, []) if item.get("Name") == name), None)
            marker = page.get("Marker")
            if found is None and not marker:
                raise StatesError("States.TaskFailed", f"The cluster {parameters.get('ClusterId')} has no instance "
                                                       f"{kind.lower()} named '{name}'")
        modified = {**config, f"Instance{kind}Id": found}
        return {**rest, target: [modified] if listed else modified}
    return prepare


def _first(name: str, listing: str) -> Answer:
    """A response's list of one (StepIds) as the integration's one item (StepId)."""
    def answer(output: dict, request: Parameters) -> dict:
        rest = {key: value for key, value in output.items() if key != listing}
        items = output.get(listing)
        return {**rest, name: items[0]} if isinstance(items, list) and items else rest
    return answer


def _emr_created(output: dict, request: Parameters) -> dict:
    return {("ClusterId" if key == "JobFlowId" else key): value for key, value in output.items()}


def _application_id(output: dict, request: Parameters) -> dict:
    """EMR Serverless answers start, stop and delete with nothing; Step Functions with the application's id."""
    return {**output, "ApplicationId": request["applicationId"]}


async def _mediaconvert(parameters: Parameters, call: TaskCall, send: Send) -> Parameters:
    tags = parameters.get("Tags")
    return {**parameters, "Tags": {**(tags if isinstance(tags, dict) else {}), "ManagedByService": "AWSStepFunctions"}}


def _lambda_result(output: dict, request: Parameters) -> dict:
    """The function's payload as JSON (or text); a function's error fails the task, named by its errorType."""
    payload = _json_or_text(output.get("Payload"))
    if output.get("FunctionError"):
        error_type = payload.get("errorType") if isinstance(payload, dict) else None
        raise StatesError(error_type if isinstance(error_type, str) and error_type else "Lambda.Unknown",
                          dumps(payload) if not isinstance(payload, str) else payload)
    return {**output, "Payload": payload}


def _events_result(output: dict, request: Parameters) -> dict:
    if output.get("FailedEntryCount"):
        raise StatesError("EventBridge.FailedEntry", dumps(output))
    return output


def _bedrock_result(output: dict, request: Parameters) -> dict:
    return {**output, "Body": _json_or_text(output.get("Body"))}


def _json_or_text(text: JSON) -> JSON:
    if not isinstance(text, str) or not text.strip():
        return {} if text in ("", None) else text
    try:
        return loads(text)
    except ValueError:
        return text


def _same(resource_type: str, *, but: tuple[str, ...] = ()) -> dict[str, str]:
    """The optimized actions of a resource type (asl/resources.py, the one list of them) that are their
    operations, in camelCase; `but` those another integration serves."""
    return {action: action[:1].upper() + action[1:] for action in OPTIMIZED_ACTIONS[resource_type] if action not in but}


APIS: tuple[Api, ...] = (
    Api(resource_type="lambda", service="lambda", naming=_v1("Lambda", "AWSLambda", "AWSLambdaException"),
        actions={"invoke": "Invoke"}, answer={"invoke": _lambda_result}),
    Api(resource_type="dynamodb", service="dynamodb",
        naming=_v1("DynamoDB", "AmazonDynamoDBv2", "AmazonDynamoDBException"),
        actions={"getItem": "GetItem", "putItem": "PutItem", "updateItem": "UpdateItem", "deleteItem": "DeleteItem"}),
    Api(resource_type="sqs", service="sqs", naming=_v1("SQS", "AmazonSQS", "AmazonSQSException"),
        actions={"sendMessage": "SendMessage"},
        prepare={"sendMessage": _as_text("MessageBody")}),
    Api(resource_type="sns", service="sns", naming=_v1("SNS", "AmazonSNS", "AmazonSNSException"),
        actions={"publish": "Publish"}, prepare={"publish": _as_text("Message")}),
    Api(resource_type="events", service="events",
        naming=_v1("EventBridge", "AmazonEventBridge", "AmazonEventBridgeException"),
        actions={"putEvents": "PutEvents"}, sdk_metadata=False,
        prepare={"putEvents": _events}, answer={"putEvents": _events_result}),
    Api(resource_type="bedrock", service="bedrock-runtime",
        naming=_v1("Bedrock", "AmazonBedrockRuntime", "AmazonBedrockRuntimeException"),
        actions={"invokeModel": "InvokeModel"}, sdk_metadata=False, prepare={"invokeModel": _as_text("Body")},
        answer={"invokeModel": _bedrock_result}),
    Api(resource_type="bedrock", service="bedrock", naming=_v1("Bedrock", "AmazonBedrock", "AmazonBedrockException"),
        actions={"createModelCustomizationJob": "CreateModelCustomizationJob"}),
    Api(resource_type="batch", service="batch", naming=_v1("Batch", "AWSBatch", "AWSBatchException"),
        actions={"submitJob": "SubmitJob"}),
    Api(resource_type="ecs", service="ecs", naming=_v1("ECS", "AmazonECS", "AmazonECSException"),
        actions={"runTask": "RunTask"}),
    Api(resource_type="glue", service="glue", naming=_v1("Glue", "AWSGlue", "AWSGlueException"),
        actions={"startJobRun": "StartJobRun"}),
    Api(resource_type="databrew", service="databrew",
        naming=_v1("DataBrew", "AWSGlueDataBrew", "AWSGlueDataBrewException"), actions={"startJobRun": "StartJobRun"}),
    Api(resource_type="athena", service="athena", naming=_v1("Athena", "AmazonAthena", "AmazonAthenaException"),
        actions=_same("athena")),
    Api(resource_type="codebuild", service="codebuild",
        naming=_v1("CodeBuild", "AWSCodeBuild", "AWSCodeBuildException"), actions=_same("codebuild"),
        tokens={operation: "idempotencyToken" for operation in ("StartBuild", "StartBuildBatch", "RetryBuildBatch")}),
    Api(resource_type="sagemaker", service="sagemaker",
        naming=_v1("SageMaker", "AmazonSageMaker", "AmazonSageMakerException"),
        actions=_same("sagemaker")),
    Api(resource_type="elasticmapreduce", service="emr",
        naming=_v1("EMR", "AmazonElasticMapReduce", "AmazonElasticMapReduceException"),
        actions={"createCluster": "RunJobFlow", "terminateCluster": "TerminateJobFlows", "addStep": "AddJobFlowSteps",
                 "cancelStep": "CancelSteps", "setClusterTerminationProtection": "SetTerminationProtection",
                 "modifyInstanceFleetByName": "ModifyInstanceFleet",
                 "modifyInstanceGroupByName": "ModifyInstanceGroups"},
        prepare={"createCluster": _emr_cluster,
                 "terminateCluster": _renamed({"ClusterId": ("JobFlowIds", True)}),
                 "setClusterTerminationProtection": _renamed({"ClusterId": ("JobFlowIds", True)}),
                 "addStep": _renamed({"ClusterId": ("JobFlowId", False), "Step": ("Steps", True)}),
                 "cancelStep": _renamed({"StepId": ("StepIds", True)}),
                 "modifyInstanceFleetByName": _by_name("Fleet", "ListInstanceFleets", "InstanceFleets",
                                                       "InstanceFleet", listed=False),
                 "modifyInstanceGroupByName": _by_name("Group", "ListInstanceGroups", "InstanceGroups",
                                                       "InstanceGroups", listed=True)},
        answer={"createCluster": _emr_created, "addStep": _first("StepId", "StepIds"),
                "cancelStep": _first("CancelStepsInfo", "CancelStepsInfoList")}),
    Api(resource_type="emr-serverless", service="emr-serverless",
        naming=_v1("EMRServerless", "AWSEMRServerless", "AWSEMRServerlessException"),
        actions=_same("emr-serverless"),
        answer={f"{verb}Application": _application_id for verb in ("start", "stop", "delete")}),
    Api(resource_type="emr-containers", service="emr-containers",
        naming=_v1("EMRContainers", "AmazonEMRContainers", "AmazonEMRContainersException"),
        actions=_same("emr-containers")),
    Api(resource_type="eks", service="eks", naming=_v1("EKS", "AmazonEKS", "AmazonEKSException"),
        actions=_same("eks", but=("runJob", "call"))),  # those two: kubernetes.py
    Api(resource_type="mediaconvert", service="mediaconvert",
        naming=_v1("MediaConvert", "AWSMediaConvert", "AWSMediaConvertException"), actions={"createJob": "CreateJob"},
        prepare={"createJob": _mediaconvert}),
)
_BY_ACTION = {(api.resource_type, action): api for api in APIS for action in api.actions}


def api_for(resource_type: str, action: str) -> Api | None:
    """The optimized integration of `arn:aws:states:::<resource_type>:<action>`, if there is one."""
    return _BY_ACTION.get((resource_type, action))


async def send(clients: AwsClients, call: TaskCall, api: Api, action: str) -> Sent:
    """An optimized action's call: its request from the Task's parameters, the response as the integration gives
    it. Raises StatesError, named as Step Functions names it."""
    model = await clients.run(service_model, api.service)

    async def call_api(operation: str, request: Parameters) -> dict:
        try:
            return await clients.call(call, api.service, operation, request)
        except (ClientError, BotoCoreError, RoleError) as error:
            raise states_error(error, api.naming, model) from None

    parameters = {} if call.parameters is None else call.parameters
    if not isinstance(parameters, dict):
        raise StatesError("States.Runtime", f"The parameters of {call.resource.name} must be an object")
    if action in api.prepare:
        parameters = await api.prepare[action](parameters, call, call_api)
    operation = model.operation_model(api.actions[action])
    request = shapes.with_idempotency_token(operation.input_shape, shapes.request(operation.input_shape, parameters),
                                            call.idempotency_key)
    token = api.tokens.get(operation.name)
    if token is not None and token not in request:
        request[token] = call.idempotency_key
    response = await call_api(operation.name, request)
    output = shapes.response(operation.output_shape, response, epoch_millis=True)
    assert isinstance(output, dict)
    if action in api.answer:
        output = api.answer[action](output, request)
    if api.sdk_metadata:
        output = {**output, **sdk_metadata(response)}
    return Sent(request, response, output)


class OptimizedIntegrations(Integration):
    """The optimized actions of APIS, request-response and `.waitForTaskToken`, on AWS or at the configured
    endpoints."""

    name = "aws"

    def __init__(self, clients: AwsClients) -> None:
        self.clients = clients

    def handles(self, call: TaskCall) -> bool:
        resource = call.resource
        if resource.kind == "lambda":
            return True
        if resource.pattern not in ("request", "callback"):
            return False
        action = resource.name.removesuffix(".waitForTaskToken")
        api = api_for(resource.resource_type, action)
        return api is not None and (resource.pattern == "request"
                                    or ".waitForTaskToken" in optimized_patterns(resource.resource_type, action))

    async def invoke(self, call: TaskCall) -> Outcome:
        resource = call.resource
        if resource.kind == "lambda":  # a function's ARN: the function's payload is the result
            function = replace(call, parameters={"FunctionName": resource.arn, "Payload": call.parameters})
            lambda_api = api_for("lambda", "invoke")
            assert lambda_api is not None
            output = (await send(self.clients, function, lambda_api, "invoke")).output
            return Succeeded(output["Payload"])
        action = resource.name.removesuffix(".waitForTaskToken")
        api = api_for(resource.resource_type, action)
        assert api is not None, resource
        output = (await send(self.clients, call, api, action)).output
        return AwaitCallback(output) if resource.pattern == "callback" else Succeeded(output)


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


@functools.cache
def service_model(service: str) -> ServiceModel:
    """botocore's model of a service (by botocore's name), loaded once (a new session parses its JSON again)."""
    return botocore.session.get_session().get_service_model(service)
