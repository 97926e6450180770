"""The optimized integrations that run a job (`.sync`): the Task makes the action's call (optimized.py, the same
as its request-response form), and its result is the job's description once the job has ended, as Step
Functions gives it.

    jobs = JobIntegrations(clients)        # clients: AwsClients; poll_seconds, max_poll_seconds for tests

One table (JOBS) says, for each `<resource type>:<action>.sync`, how its job is described, read and stopped:
- `invoke` makes the call and returns Submitted(its result, the handle), the handle being the describe
  operation's request: it is committed with the pending task, so a restart (in this process or another worker)
  resumes the wait, never calls again;
- `wait` calls the describe operation, at first after `poll_seconds` and then twice as long each time up to
  `max_poll_seconds` (asyncio sleeps: no thread waits), until the job's status is a final one (or, for a
  deletion, until the describe operation no longer finds it: `gone`): a successful job's description
  (PascalCase, timestamps as epoch milliseconds) is the task's result, or the call's own result where that is
  what Step Functions gives (`result="submitted"`: EMR's createCluster answers its ClusterId); any other end
  fails the task with States.TaskFailed, that description as JSON text as the cause;
- `cancel` (the task was abandoned: its execution stopped, the task timed out, its branch failed) calls the
  service's stop operation for the job, where there is one: as AWS documents, an EMR or EKS cluster being
  created or deleted, and an application or virtual cluster changing state, is left as it is.
Where the call takes an idempotency token and the Task gives none, it is the invocation's idempotency key
(optimized.py): a call dispatched again after a crash (before its handle was committed) is then recognised by
the service instead of starting a second job. Batch, Glue, Glue DataBrew, SageMaker and EMR take no such token
(SageMaker's job names are the user's).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from botocore.exceptions import BotoCoreError, ClientError
from botocore.model import ListShape, Shape, StructureShape

from stepline.jsonvalue import JSON, dumps
from stepline.runtime.integrations.aws import shapes
from stepline.runtime.integrations.aws.clients import AwsClients, RoleError
from stepline.runtime.integrations.aws.errors import states_error
from stepline.runtime.integrations.aws.optimized import Api, api_for, send, service_model
from stepline.runtime.integrations.registry import Ended, Failed, Integration, Outcome, Submitted, Succeeded, TaskCall

Request = dict[str, Any]
STOP_REASON = "Task abandoned by its Step Functions execution"


@dataclass(frozen=True, slots=True, kw_only=True)
class Job:
    """How one `.sync` integration's job is described, read and stopped."""

    handle: Callable[[Request, dict], Request]  # (the request sent, its response) -> the describe request
    describe: str
    job: tuple[str | int, ...]  # where the job is in the describe response (() for the whole response)
    status: tuple[str, ...]  # where its status is in the job
    succeeded: frozenset[str]
    failed: frozenset[str]
    stop: str | None = None  # the operation that stops the job (None: the job is left to run)
    stop_request: Callable[[Request], Request] = field(default=lambda handle: handle)  # the handle -> its request
    wrap: str | None = None  # the result is {wrap: job} (CodeBuild's `Build`)
    result: Literal["description", "submitted"] = "description"  # the task's result once the job succeeded
    gone: str | None = None  # the describe operation's error once the job's resource is deleted: success
    clean: Callable[[dict], bool] = field(default=lambda job: True)  # whether a job in a succeeded status succeeded
    refused: str | None = None  # a submit response member that lists failures (ECS's `failures`)


def _sagemaker(kind: str) -> Job:
    """SageMaker's Create<kind>Job: its name (given by the user) is the handle."""
    name = f"{kind}JobName"
    return Job(handle=lambda request, response: {name: request[name]},
               describe=f"Describe{kind}Job", job=(), status=(f"{kind}JobStatus",),
               succeeded=frozenset({"Completed"}), failed=frozenset({"Failed", "Stopped"}), stop=f"Stop{kind}Job")


def _containers_exited_cleanly(task: dict) -> bool:
    """An ECS task succeeded when each of its containers exited with code 0 (AWS fails the task for any other)."""
    return all(container.get("exitCode") == 0 for container in task.get("containers", []))


def _eks(kind: str, created: bool) -> Job:
    """EKS's create|delete<kind>: the cluster, node group or Fargate profile until it is ACTIVE, or gone."""
    names = {"Cluster": ("name",), "Nodegroup": ("clusterName", "nodegroupName"),
             "FargateProfile": ("clusterName", "fargateProfileName")}[kind]
    member = kind[:1].lower() + kind[1:]
    return Job(handle=lambda request, response: {name: request[name] for name in names},
               describe=f"Describe{kind}", job=(), status=(member, "status"),
               succeeded=frozenset({"ACTIVE"} if created else ()),
               failed=frozenset({"FAILED", "CREATE_FAILED", "DELETING"} if created else {"FAILED", "DELETE_FAILED"}),
               result="description" if created else "submitted", gone=None if created else "ResourceNotFoundException")


def _emr_cluster(succeeded: str) -> Job:
    """EMR's createCluster (until WAITING) and terminateCluster (until TERMINATED): the call's result."""
    return Job(handle=lambda request, response: {"ClusterId": response.get("JobFlowId") or request["JobFlowIds"][0]},
               describe="DescribeCluster", job=("Cluster",), status=("Status", "State"),
               succeeded=frozenset({succeeded}),
               failed=frozenset({"TERMINATING", "TERMINATED", "TERMINATED_WITH_ERRORS"} - {succeeded}),
               result="submitted")


def _emr_application(succeeded: frozenset[str]) -> Job:
    """EMR Serverless's create|start|stop|deleteApplication: the application until its state is reached."""
    return Job(handle=lambda request, response: {"applicationId": response.get("applicationId")
                                                 or request["applicationId"]},
               describe="GetApplication", job=("application",), status=("state",), succeeded=succeeded,
               failed=frozenset({"TERMINATED"}) - succeeded, result="submitted")


_BUILD_ENDED = frozenset({"FAILED", "FAULT", "TIMED_OUT", "STOPPED"})
_BUILD_BATCH = Job(handle=lambda request, response: {"ids": [response["buildBatch"]["id"]]}, wrap="BuildBatch",
                   describe="BatchGetBuildBatches", job=("buildBatches", 0), status=("buildBatchStatus",),
                   succeeded=frozenset({"SUCCEEDED"}), failed=_BUILD_ENDED,
                   stop="StopBuildBatch", stop_request=lambda handle: {"id": handle["ids"][0]})

JOBS: dict[tuple[str, str], Job] = {
    ("batch", "submitJob"): Job(
        handle=lambda request, response: {"jobs": [response["jobId"]]},
        describe="DescribeJobs", job=("jobs", 0), status=("status",),
        succeeded=frozenset({"SUCCEEDED"}), failed=frozenset({"FAILED"}),
        stop="TerminateJob", stop_request=lambda handle: {"jobId": handle["jobs"][0], "reason": STOP_REASON}),
    ("ecs", "runTask"): Job(
        refused="failures",
        handle=lambda request, response: {"cluster": response["tasks"][0]["clusterArn"],
                                          "tasks": [response["tasks"][0]["taskArn"]]},
        describe="DescribeTasks", job=("tasks", 0), status=("lastStatus",), clean=_containers_exited_cleanly,
        succeeded=frozenset({"STOPPED"}), failed=frozenset(),
        stop="StopTask", stop_request=lambda handle: {"cluster": handle["cluster"], "task": handle["tasks"][0],
                                                      "reason": STOP_REASON}),
    ("glue", "startJobRun"): Job(
        handle=lambda request, response: {"JobName": request["JobName"], "RunId": response["JobRunId"]},
        describe="GetJobRun", job=("JobRun",), status=("JobRunState",),
        succeeded=frozenset({"SUCCEEDED"}), failed=frozenset({"FAILED", "ERROR", "TIMEOUT", "STOPPED"}),
        stop="BatchStopJobRun", stop_request=lambda handle: {"JobName": handle["JobName"],
                                                             "JobRunIds": [handle["RunId"]]}),
    ("athena", "startQueryExecution"): Job(
        handle=lambda request, response: {"QueryExecutionId": response["QueryExecutionId"]},
        describe="GetQueryExecution", job=(), status=("QueryExecution", "Status", "State"),
        succeeded=frozenset({"SUCCEEDED"}), failed=frozenset({"FAILED", "CANCELLED"}), stop="StopQueryExecution"),
    ("codebuild", "startBuild"): Job(
        handle=lambda request, response: {"ids": [response["build"]["id"]]}, wrap="Build",
        describe="BatchGetBuilds", job=("builds", 0), status=("buildStatus",),
        succeeded=frozenset({"SUCCEEDED"}), failed=_BUILD_ENDED,
        stop="StopBuild", stop_request=lambda handle: {"id": handle["ids"][0]}),
    ("codebuild", "startBuildBatch"): _BUILD_BATCH,
    ("codebuild", "retryBuildBatch"): _BUILD_BATCH,
    **{("sagemaker", f"create{kind}Job"): _sagemaker(kind)
       for kind in ("Training", "Transform", "Processing", "Labeling", "HyperParameterTuning")},
    ("databrew", "startJobRun"): Job(
        handle=lambda request, response: {"Name": request["Name"], "RunId": response["RunId"]},
        describe="DescribeJobRun", job=(), status=("State",),
        succeeded=frozenset({"SUCCEEDED"}), failed=frozenset({"FAILED", "TIMEOUT", "STOPPED"}), stop="StopJobRun"),
    ("emr-serverless", "startJobRun"): Job(
        handle=lambda request, response: {"applicationId": response["applicationId"],
                                          "jobRunId": response["jobRunId"]},
        describe="GetJobRun", job=(), status=("jobRun", "state"),
        succeeded=frozenset({"SUCCESS"}), failed=frozenset({"FAILED", "CANCELLED"}), stop="CancelJobRun"),
    ("emr-serverless", "cancelJobRun"): Job(
        handle=lambda request, response: {"applicationId": response["applicationId"],
                                          "jobRunId": response["jobRunId"]},
        describe="GetJobRun", job=(), status=("jobRun", "state"),
        succeeded=frozenset({"CANCELLED"}), failed=frozenset({"SUCCESS", "FAILED"}), result="submitted"),
    ("emr-serverless", "createApplication"): _emr_application(
        frozenset({"CREATED", "STARTING", "STARTED", "STOPPING", "STOPPED"})),
    ("emr-serverless", "startApplication"): _emr_application(frozenset({"STARTED"})),
    ("emr-serverless", "stopApplication"): _emr_application(frozenset({"STOPPED"})),
    ("emr-serverless", "deleteApplication"): _emr_application(frozenset({"TERMINATED"})),
    ("emr-containers", "startJobRun"): Job(
        handle=lambda request, response: {"virtualClusterId": response["virtualClusterId"], "id": response["id"]},
        describe="DescribeJobRun", job=(), status=("jobRun", "state"),
        succeeded=frozenset({"COMPLETED"}), failed=frozenset({"FAILED", "CANCELLED"}), stop="CancelJobRun"),
    ("emr-containers", "deleteVirtualCluster"): Job(
        handle=lambda request, response: {"id": response.get("id") or request["id"]},
        describe="DescribeVirtualCluster", job=("virtualCluster",), status=("state",),
        succeeded=frozenset({"TERMINATED"}), failed=frozenset({"ARRESTED"}), result="submitted"),
    ("elasticmapreduce", "addStep"): Job(
        handle=lambda request, response: {"ClusterId": request["JobFlowId"], "StepId": response["StepIds"][0]},
        describe="DescribeStep", job=(), status=("Step", "Status", "State"),
        succeeded=frozenset({"COMPLETED"}), failed=frozenset({"CANCELLED", "FAILED", "INTERRUPTED"}),
        stop="CancelSteps", stop_request=lambda handle: {"ClusterId": handle["ClusterId"],
                                                         "StepIds": [handle["StepId"]]}),
    ("elasticmapreduce", "createCluster"): _emr_cluster("WAITING"),
    ("elasticmapreduce", "terminateCluster"): _emr_cluster("TERMINATED"),
    **{("eks", f"{verb}{kind}"): _eks(kind, created=verb == "create")
       for kind in ("Cluster", "Nodegroup", "FargateProfile") for verb in ("create", "delete")},
    ("mediaconvert", "createJob"): Job(
        handle=lambda request, response: {"Id": response["Job"]["Id"]},
        describe="GetJob", job=(), status=("Job", "Status"),
        succeeded=frozenset({"COMPLETE"}), failed=frozenset({"ERROR", "CANCELED"}), stop="CancelJob"),
    ("bedrock", "createModelCustomizationJob"): Job(
        handle=lambda request, response: {"jobIdentifier": request["jobName"]},  # the user's: AWS takes it too
        describe="GetModelCustomizationJob", job=(), status=("status",),
        succeeded=frozenset({"Completed"}), failed=frozenset({"Failed", "Stopped"}), stop="StopModelCustomizationJob"),
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
        api, job = _found(call)
        sent = await send(self.clients, call, api, _action(call))
        if job.refused is not None and sent.response.get(job.refused):
            return Failed(f"{api.naming.service}.Unknown", dumps(sent.output))
        describe = job.handle(sent.request, sent.response)
        # the handle: the describe request, with the call's result when that is the task's result
        return Submitted(sent.output, {"Describe": describe, "Result": sent.output} if job.result == "submitted"
                         else describe)

    async def wait(self, call: TaskCall, handle: JSON) -> Ended:
        api, job = _found(call)
        describe = handle.get("Describe") if job.result == "submitted" and isinstance(handle, dict) else handle
        if not isinstance(describe, dict):
            return Failed("States.Runtime", f"The job handle of {call.resource.name} is not one: {dumps(handle)}")
        model = await self.clients.run(service_model, api.service)
        output_shape = model.operation_model(job.describe).output_shape
        delay = self.poll_seconds
        while True:
            try:
                response = await self.clients.call(call, api.service, job.describe, describe)
            except (ClientError, BotoCoreError, RoleError) as error:
                if isinstance(error, ClientError) and job.gone is not None and error.response.get(
                        "Error", {}).get("Code") == job.gone:
                    return Succeeded(_result(job, handle, {}))
                raise states_error(error, api.naming, model) from None
            found, shape = _at(response, output_shape, job.job)
            if not isinstance(found, dict):
                return Failed("States.TaskFailed", f"{job.describe} no longer knows the job {dumps(describe)}")
            status = _at(found, shape, job.status)[0]
            if status in job.succeeded or status in job.failed:
                description = shapes.response(shape, found, epoch_millis=True)
                if job.wrap is not None:
                    description = {job.wrap: description}
                if status in job.succeeded and job.clean(found):
                    return Succeeded(_result(job, handle, description))
                return Failed("States.TaskFailed", dumps(description))
            await asyncio.sleep(delay)
            delay = min(delay * 2, self.max_poll_seconds)

    async def cancel(self, call: TaskCall, handle: JSON) -> None:
        api, job = _found(call)
        if job.stop is not None and isinstance(handle, dict):
            model = await self.clients.run(service_model, api.service)
            try:
                await self.clients.call(call, api.service, job.stop, job.stop_request(handle))
            except (ClientError, BotoCoreError, RoleError) as error:
                raise states_error(error, api.naming, model) from None


def result_shape(resource_type: str, action: str) -> StructureShape | None:
    """The shape of a `<resource type>:<action>.sync` Task's result: the job's description in its describe
    operation's output, or the call's own output where that is the result; None for a wrapped description
    (CodeBuild's `Build`) and for an action JOBS does not know."""
    job = JOBS.get((resource_type, action))
    api = api_for(resource_type, action)
    if job is None or api is None or job.wrap is not None:
        return None
    model = service_model(api.service)
    if job.result == "submitted":
        return model.operation_model(api.actions[action]).output_shape
    shape: Shape | None = model.operation_model(job.describe).output_shape
    for step in job.job:
        if isinstance(step, int):
            shape = shape.member if isinstance(shape, ListShape) else None
        else:
            shape = shape.members.get(step) if isinstance(shape, StructureShape) else None
    return shape if isinstance(shape, StructureShape) else None


def _result(job: Job, handle: JSON, description: JSON) -> JSON:
    return handle.get("Result") if job.result == "submitted" and isinstance(handle, dict) else description


def _action(call: TaskCall) -> str:
    return call.resource.name.removesuffix(".sync")


def _job(call: TaskCall) -> tuple[Api, Job] | None:
    resource = call.resource
    if resource.kind != "service" or not resource.name.endswith(".sync"):
        return None
    job = JOBS.get((resource.resource_type, _action(call)))
    api = api_for(resource.resource_type, _action(call))
    return (api, job) if api is not None and job is not None else None


def _found(call: TaskCall) -> tuple[Api, Job]:
    found = _job(call)
    assert found is not None, call.resource
    return found


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
