"""The optimized integrations that run a job (`.sync`): the Task submits the job, and its result is the job's
description once the job has ended, as Step Functions gives it.

    jobs = JobIntegrations(clients)        # clients: AwsClients; poll_seconds, max_poll_seconds for tests

One table (JOBS) says, for each `<service>:<action>.sync`, how its job is submitted, described, read and stopped:
- `invoke` sends the submit operation with the Task's parameters (PascalCase, as the API names its members) and
  returns Submitted(its response, the handle), the handle being the describe operation's request: it is committed
  with the pending task, so a restart (in this process or another worker) resumes the wait, never re-submits;
- `wait` calls the describe operation, at first after `poll_seconds` and then twice as long each time up to
  `max_poll_seconds` (asyncio sleeps: no thread waits), until the job's status is a final one: a successful job is
  the task's result (the job's description, PascalCase, timestamps as epoch milliseconds, as Step Functions' SDK
  gives it); any other end fails the task with States.TaskFailed, that description as JSON text as the cause;
- `cancel` (the task was abandoned: its execution stopped, the task timed out, its branch failed) calls the
  service's stop operation for the job.
Where the submit operation takes an idempotency token (Athena, ECS, EMR on EKS, EMR Serverless and Bedrock, whose
models mark it, as for every AWS call: shapes.with_idempotency_token; and CodeBuild's, which its model does not
mark) and the Task gives none, it is the invocation's idempotency key: a submission dispatched again after a crash
(before its handle was committed) is then recognised by the service instead of starting a second job. Batch, Glue,
Glue DataBrew, SageMaker and EMR's AddJobFlowSteps take no such token (SageMaker's job names are the user's).

A failed call is named as Step Functions names the optimized integrations' errors (the AWS SDK for Java v1):
`<Prefix>.<Exception>` (`Batch.ClientException`, `Glue.EntityNotFoundException`), the service's base exception
for an error its model does not declare (`ECS.AmazonECSException`), `<Prefix>.SdkClientException` when the
service could not be reached.
"""

from __future__ import annotations

import asyncio
import base64
import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import botocore.session
from botocore.exceptions import BotoCoreError, ClientError
from botocore.model import ListShape, MapShape, ServiceModel, Shape, StructureShape

from stepline.errors import StatesError
from stepline.jsonvalue import JSON, dumps
from stepline.runtime.integrations.aws import shapes
from stepline.runtime.integrations.aws.clients import AwsClients, RoleError
from stepline.runtime.integrations.aws.errors import Naming, states_error
from stepline.runtime.integrations.aws.optimized import sdk_metadata
from stepline.runtime.integrations.registry import Ended, Failed, Integration, Outcome, Submitted, Succeeded, TaskCall

Request = dict[str, Any]
STOP_REASON = "Task abandoned by its Step Functions execution"


@dataclass(frozen=True, slots=True, kw_only=True)
class Job:
    """One `.sync` integration: its service's operations and how its job is read."""

    service: str  # botocore's name
    naming: Naming
    submit: str  # the operation that starts the job
    handle: Callable[[Request, dict], Request]  # (submit request, its response) -> the describe request
    describe: str
    job: tuple[str | int, ...]  # where the job is in the describe response (() for the whole response)
    status: tuple[str, ...]  # where its status is in the job
    succeeded: frozenset[str]
    failed: frozenset[str]
    stop: str
    stop_request: Callable[[Request], Request]  # the handle -> the stop request
    token: str | None = None  # an idempotency token the model does not mark as one (CodeBuild's)
    wrap: str | None = None  # the result is {wrap: job} (CodeBuild's `Build`)
    request: Callable[[dict], dict] = field(default=lambda parameters: parameters)  # the Task's parameters -> the API's
    clean: Callable[[dict], bool] = field(default=lambda job: True)  # whether a job in a succeeded status succeeded
    refused: str | None = None  # a submit response member that lists failures (ECS's `failures`)


def _v1(prefix: str, service: str, base_exception: str) -> Naming:
    """The naming of an optimized integration's failures (the AWS SDK for Java v1's)."""
    return Naming(prefix=prefix, base_exception=base_exception, service=service, sdk_v1=True)


def _sagemaker(kind: str) -> Job:
    """SageMaker's Create<kind>Job: its name (given by the user) is the handle."""
    name = f"{kind}JobName"
    return Job(service="sagemaker", naming=_v1("SageMaker", "AmazonSageMaker", "AmazonSageMakerException"),
               submit=f"Create{kind}Job", handle=lambda request, response: {name: request[name]},
               describe=f"Describe{kind}Job", job=(), status=(f"{kind}JobStatus",),
               succeeded=frozenset({"Completed"}), failed=frozenset({"Failed", "Stopped"}),
               stop=f"Stop{kind}Job", stop_request=lambda handle: handle)


def _containers_exited_cleanly(task: dict) -> bool:
    """An ECS task succeeded when each of its containers exited with code 0 (AWS fails the task for any other)."""
    return all(container.get("exitCode") == 0 for container in task.get("containers", []))


def _emr_step(parameters: dict) -> dict:
    """addStep's ClusterId and Step are AddJobFlowSteps' JobFlowId and Steps."""
    rest = {key: value for key, value in parameters.items() if key not in ("ClusterId", "Step")}
    return {**rest, "JobFlowId": parameters.get("ClusterId"), "Steps": [parameters.get("Step")]}


_BUILD_ENDED = frozenset({"FAILED", "FAULT", "TIMED_OUT", "STOPPED"})

JOBS: dict[tuple[str, str], Job] = {
    ("batch", "submitJob"): Job(
        service="batch", naming=_v1("Batch", "AWSBatch", "AWSBatchException"),
        submit="SubmitJob", handle=lambda request, response: {"jobs": [response["jobId"]]},
        describe="DescribeJobs", job=("jobs", 0), status=("status",),
        succeeded=frozenset({"SUCCEEDED"}), failed=frozenset({"FAILED"}),
        stop="TerminateJob", stop_request=lambda handle: {"jobId": handle["jobs"][0], "reason": STOP_REASON}),
    ("ecs", "runTask"): Job(
        service="ecs", naming=_v1("ECS", "AmazonECS", "AmazonECSException"),
        submit="RunTask", refused="failures",
        handle=lambda request, response: {"cluster": response["tasks"][0]["clusterArn"],
                                          "tasks": [response["tasks"][0]["taskArn"]]},
        describe="DescribeTasks", job=("tasks", 0), status=("lastStatus",), clean=_containers_exited_cleanly,
        succeeded=frozenset({"STOPPED"}), failed=frozenset(),
        stop="StopTask", stop_request=lambda handle: {"cluster": handle["cluster"], "task": handle["tasks"][0],
                                                      "reason": STOP_REASON}),
    ("glue", "startJobRun"): Job(
        service="glue", naming=_v1("Glue", "AWSGlue", "AWSGlueException"),
        submit="StartJobRun", handle=lambda request, response: {"JobName": request["JobName"],
                                                                "RunId": response["JobRunId"]},
        describe="GetJobRun", job=("JobRun",), status=("JobRunState",),
        succeeded=frozenset({"SUCCEEDED"}), failed=frozenset({"FAILED", "ERROR", "TIMEOUT", "STOPPED"}),
        stop="BatchStopJobRun", stop_request=lambda handle: {"JobName": handle["JobName"],
                                                             "JobRunIds": [handle["RunId"]]}),
    ("athena", "startQueryExecution"): Job(
        service="athena", naming=_v1("Athena", "AmazonAthena", "AmazonAthenaException"), 
        submit="StartQueryExecution",
        handle=lambda request, response: {"QueryExecutionId": response["QueryExecutionId"]},
        describe="GetQueryExecution", job=(), status=("QueryExecution", "Status", "State"),
        succeeded=frozenset({"SUCCEEDED"}), failed=frozenset({"FAILED", "CANCELLED"}),
        stop="StopQueryExecution", stop_request=lambda handle: handle),
    ("codebuild", "startBuild"): Job(
        service="codebuild", naming=_v1("CodeBuild", "AWSCodeBuild", "AWSCodeBuildException"),
        token="idempotencyToken", submit="StartBuild", wrap="Build",
        handle=lambda request, response: {"ids": [response["build"]["id"]]},
        describe="BatchGetBuilds", job=("builds", 0), status=("buildStatus",),
        succeeded=frozenset({"SUCCEEDED"}), failed=_BUILD_ENDED,
        stop="StopBuild", stop_request=lambda handle: {"id": handle["ids"][0]}),
    ("codebuild", "startBuildBatch"): Job(
        service="codebuild", naming=_v1("CodeBuild", "AWSCodeBuild", "AWSCodeBuildException"),
        token="idempotencyToken", submit="StartBuildBatch", wrap="BuildBatch",
        handle=lambda request, response: {"ids": [response["buildBatch"]["id"]]},
        describe="BatchGetBuildBatches", job=("buildBatches", 0), status=("buildBatchStatus",),
        succeeded=frozenset({"SUCCEEDED"}), failed=_BUILD_ENDED,
        stop="StopBuildBatch", stop_request=lambda handle: {"id": handle["ids"][0]}),
    ("sagemaker", "createTrainingJob"): _sagemaker("Training"),
    ("sagemaker", "createTransformJob"): _sagemaker("Transform"),
    ("sagemaker", "createProcessingJob"): _sagemaker("Processing"),
    ("sagemaker", "createLabelingJob"): _sagemaker("Labeling"),
    ("sagemaker", "createHyperParameterTuningJob"): _sagemaker("HyperParameterTuning"),
    ("databrew", "startJobRun"): Job(
        service="databrew", naming=_v1("DataBrew", "AWSGlueDataBrew", "AWSGlueDataBrewException"),
        submit="StartJobRun", handle=lambda request, response: {"Name": request["Name"], "RunId": response["RunId"]},
        describe="DescribeJobRun", job=(), status=("State",),
        succeeded=frozenset({"SUCCEEDED"}), failed=frozenset({"FAILED", "TIMEOUT", "STOPPED"}),
        stop="StopJobRun", stop_request=lambda handle: handle),
    ("emr-serverless", "startJobRun"): Job(
        service="emr-serverless", naming=_v1("EMRServerless", "AWSEMRServerless", "AWSEMRServerlessException"),
        submit="StartJobRun",
        handle=lambda request, response: {"applicationId": response["applicationId"],
                                          "jobRunId": response["jobRunId"]},
        describe="GetJobRun", job=(), status=("jobRun", "state"),
        succeeded=frozenset({"SUCCESS"}), failed=frozenset({"FAILED", "CANCELLED"}),
        stop="CancelJobRun", stop_request=lambda handle: handle),
    ("emr-containers", "startJobRun"): Job(
        service="emr-containers", naming=_v1("EMRContainers", "AmazonEMRContainers", "AmazonEMRContainersException"),
        submit="StartJobRun",
        handle=lambda request, response: {"virtualClusterId": response["virtualClusterId"], "id": response["id"]},
        describe="DescribeJobRun", job=(), status=("jobRun", "state"),
        succeeded=frozenset({"COMPLETED"}), failed=frozenset({"FAILED", "CANCELLED"}),
        stop="CancelJobRun", stop_request=lambda handle: handle),
    ("elasticmapreduce", "addStep"): Job(
        service="emr", naming=_v1("EMR", "AmazonElasticMapReduce", "AmazonElasticMapReduceException"),
        submit="AddJobFlowSteps", request=_emr_step,
        handle=lambda request, response: {"ClusterId": request["JobFlowId"], "StepId": response["StepIds"][0]},
        describe="DescribeStep", job=(), status=("Step", "Status", "State"),
        succeeded=frozenset({"COMPLETED"}), failed=frozenset({"CANCELLED", "FAILED", "INTERRUPTED"}),
        stop="CancelSteps", stop_request=lambda handle: {"ClusterId": handle["ClusterId"],
                                                         "StepIds": [handle["StepId"]]}),
    ("bedrock", "createModelCustomizationJob"): Job(
        service="bedrock", naming=_v1("Bedrock", "AmazonBedrock", "AmazonBedrockException"),
        submit="CreateModelCustomizationJob",
        handle=lambda request, response: {"jobIdentifier": request["jobName"]},  # the user's: AWS takes it too
        describe="GetModelCustomizationJob", job=(), status=("status",),
        succeeded=frozenset({"Completed"}), failed=frozenset({"Failed", "Stopped"}),
        stop="StopModelCustomizationJob", stop_request=lambda handle: handle),
}


class JobIntegrations(Integration):
    """The `.sync` integrations of JOBS, on AWS or at the configured endpoints."""

    name = "aws-jobs"

    def __init__(self, clients: AwsClients, *, poll_seconds: float = 1.0, max_poll_seconds: float = 30.0) -> None:
        self.clients = clients
        self.poll_seconds = poll_seconds
        self.max_poll_seconds = max(poll_seconds, max_poll_seconds)

    def handles(self, call: TaskCall) -> bool:
        return _job(call) is not None

    async def invoke(self, call: TaskCall) -> Outcome:
        job = _found(call)
        model = await self.clients.run(_model, job.service)
        operation = model.operation_model(job.submit)
        parameters = call.parameters if call.parameters is not None else {}
        if not isinstance(parameters, dict):
            raise StatesError("States.Runtime", f"The parameters of {call.resource.name} must be an object")
        request = shapes.with_idempotency_token(operation.input_shape,
                                                shapes.request(operation.input_shape, job.request(parameters)),
                                                call.idempotency_key)
        if job.token is not None and job.token not in request:
            request[job.token] = call.idempotency_key
        response = await self._call(call, job, model, job.submit, request)
        output = _result(operation.output_shape, response)
        assert isinstance(output, dict)
        output.update(sdk_metadata(response))
        if job.refused is not None and response.get(job.refused):
            return Failed(f"{job.naming.service}.Unknown", dumps(output))
        return Submitted(output, job.handle(request, response))

    async def wait(self, call: TaskCall, handle: JSON) -> Ended:
        job = _found(call)
        if not isinstance(handle, dict):
            return Failed("States.Runtime", f"The job handle of {call.resource.name} is not one: {dumps(handle)}")
        model = await self.clients.run(_model, job.service)
        output_shape = model.operation_model(job.describe).output_shape
        delay = self.poll_seconds
        while True:
            response = await self._call(call, job, model, job.describe, handle)
            found, shape = _at(response, output_shape, job.job)
            if not isinstance(found, dict):
                return Failed("States.TaskFailed", f"{job.describe} no longer knows the job {dumps(handle)}")
            status = _at(found, shape, job.status)[0]
            if status in job.succeeded or status in job.failed:
                result = _result(shape, found)
                if job.wrap is not None:
                    result = {job.wrap: result}
                if status in job.succeeded and job.clean(found):
                    return Succeeded(result)
                return Failed("States.TaskFailed", dumps(result))
            await asyncio.sleep(delay)
            delay = min(delay * 2, self.max_poll_seconds)

    async def cancel(self, call: TaskCall, handle: JSON) -> None:
        job = _found(call)
        if isinstance(handle, dict):
            model = await self.clients.run(_model, job.service)
            await self._call(call, job, model, job.stop, job.stop_request(handle))

    async def _call(self, call: TaskCall, job: Job, model: ServiceModel, operation: str, request: Request) -> dict:
        try:
            return await self.clients.call(call, job.service, operation, request)
        except (ClientError, BotoCoreError, RoleError) as error:
            raise states_error(error, job.naming, model) from None


def _job(call: TaskCall) -> Job | None:
    resource = call.resource
    if resource.kind != "service" or not resource.name.endswith(".sync"):
        return None
    return JOBS.get((resource.resource_type, resource.name.removesuffix(".sync")))


def _found(call: TaskCall) -> Job:
    job = _job(call)
    assert job is not None, call.resource
    return job


@functools.cache
def _model(service: str) -> ServiceModel:
    return botocore.session.get_session().get_service_model(service)


def _result(shape: Shape | None, value: Any) -> Any:
    """A response as Step Functions' SDK (Java v1) gives it: members in PascalCase (map keys as they are),
    timestamps as epoch milliseconds, blobs as base64 text."""
    if isinstance(shape, StructureShape) and isinstance(value, Mapping):
        return {shapes.step_functions_name(name): _result(member, value[name]) for name, member in shape.members.items()
                if name in value}
    if isinstance(shape, ListShape) and isinstance(value, list):
        return [_result(shape.member, item) for item in value]
    if isinstance(shape, MapShape) and isinstance(value, Mapping):
        return {str(key): _result(shape.value, item) for key, item in value.items()}
    if isinstance(value, datetime):
        return int(value.timestamp() * 1000)
    if isinstance(value, (bytes, bytearray)):
        return base64.b64encode(value).decode()
    return value


def _at(value: Any, shape: Shape | None, path: tuple[str | int, ...]) -> tuple[Any, Shape | None]:
    """The value at `path` in a response, and its shape (None where either is missing)."""
    for step in path:
        if isinstance(step, int):
            if not isinstance(value, list) or len(value) <= step:
                return None, None
            value, shape = value[step], shape.member if isinstance(shape, ListShape) else None
        else:
            if not isinstance(value, Mapping):
                return None, None
            value = value.get(step)
            shape = shape.members.get(step) if isinstance(shape, StructureShape) else None
    return value, shape
