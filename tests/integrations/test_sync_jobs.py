"""The `.sync` optimized integrations against moto's server: the job is submitted (TaskSubmitted shows the
service's response), waited for, and its description is the task's result; a job that fails fails the task with
States.TaskFailed; stopping the execution stops the job; service errors are named as Step Functions names them.

moto's jobs: Batch jobs end at once (SUCCEEDED with its "simple" mode, FAILED with its Docker mode on a machine
without Docker); ECS tasks, Athena queries and Glue job runs move on as moto's state manager says (here: held in
their running state until stopped, where a test needs a job that runs); CodeBuild builds, SageMaker training jobs and
EMR Serverless job runs end as soon as they are described; EMR on EKS job runs and Bedrock customization jobs run
until they are cancelled; EMR steps never end (nor cancel)."""

from __future__ import annotations

import asyncio
import json
import time
import urllib.request
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from aws_services import aws_client, aws_environment, moto_endpoint
from serving import StepLine, finished, history, types
from support import fresh_schema

from stepline.engine.resources import describe_resource
from stepline.runtime.integrations.aws.jobs import STOP_REASON
from stepline.runtime.integrations.registry import Submitted, TaskCall
from stepline.service.app import StepFunctionsService
from stepline.service.settings import Settings

pytestmark = pytest.mark.anyio

ROLE = "arn:aws:iam::123456789012:role/stepline-tests"
ARN = "arn:aws:states:::"


@pytest.fixture
async def service(tmp_path: Path, aws: pytest.MonkeyPatch) -> AsyncIterator[StepFunctionsService]:
    """The application, its AWS calls sent to moto, polling jobs every few milliseconds at first."""
    service = StepFunctionsService(Settings(db=str(tmp_path / "store.db"), time_scale=0, job_poll_seconds=0.01))
    await service.start()
    yield service
    await service.close()


def moto_api(path: str, body: dict) -> None:
    request = urllib.request.Request(moto_endpoint() + path, data=json.dumps(body).encode(), method="POST")
    urllib.request.urlopen(request, timeout=10).close()


@contextmanager
def held(model: str) -> Iterator[None]:
    """moto's `model` (ecs::task, athena::execution, glue::job_run) stays in its first state until stopped."""
    moto_api("/moto-api/state-manager/set-transition",
             {"model_name": model, "transition": {"progression": "manual", "times": 10**9}})
    try:
        yield
    finally:
        moto_api("/moto-api/state-manager/unset-transition", {"model_name": model})


@contextmanager
def batch_without_docker() -> Iterator[None]:
    """moto's Batch runs jobs as succeeded at once instead of in Docker."""
    moto_api("/moto-api/config", {"batch": {"use_docker": False}})
    try:
        yield
    finally:
        moto_api("/moto-api/config", {"batch": {"use_docker": True}})


def unique(prefix: str) -> str:
    return f"{prefix}{uuid.uuid4().hex[:10]}"


async def start(service: StepFunctionsService, resource: str, parameters: dict, **fields: Any) -> str:
    state = {"Type": "Task", "Resource": ARN + resource, "Parameters": parameters, "End": True, **fields}
    created = await service.create_state_machine(name=unique("m"), roleArn=ROLE, definition=json.dumps(
        {"StartAt": "Job", "States": {"Job": state}}))
    return (await service.start_execution(stateMachineArn=created["stateMachineArn"]))["executionArn"]


async def run(service: StepFunctionsService, resource: str, parameters: dict) -> tuple[dict, list[dict]]:
    """Run a one-Task workflow to its end: its description and history."""
    arn = await start(service, resource, parameters)
    await asyncio.wait_for(service.wait_for_execution(arn), 20)
    return await service.describe_execution(executionArn=arn), await service.full_history(arn)


def submitted(history: list[dict]) -> dict:
    [event] = [e for e in history if e["type"] == "TaskSubmitted"]
    return json.loads(event["taskSubmittedEventDetails"]["output"])


async def until_submitted(service: StepFunctionsService, arn: str) -> dict:
    for _ in range(1000):
        history = await service.full_history(arn)
        if any(e["type"] == "TaskSubmitted" for e in history):
            return submitted(history)
        await asyncio.sleep(0.01)
    raise AssertionError("the job was not submitted")


def eventually(read: Any, done: Any, timeout: float = 10) -> Any:
    loop = asyncio.get_running_loop()

    async def poll() -> Any:
        deadline = loop.time() + timeout
        while True:
            value = read()
            if done(value):
                return value
            assert loop.time() < deadline, value
            await asyncio.sleep(0.02)
    return poll()


# ---------------------------------------------------------------- AWS Batch


def batch_queue() -> tuple[str, str]:
    """A job queue and a job definition on moto."""
    iam, batch = aws_client("iam"), aws_client("batch")
    role = iam.create_role(RoleName=unique("batch"), AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    environment = batch.create_compute_environment(computeEnvironmentName=unique("env"), type="UNMANAGED",
                                                   serviceRole=role)["computeEnvironmentArn"]
    queue = batch.create_job_queue(jobQueueName=unique("queue"), state="ENABLED", priority=1,
                                   computeEnvironmentOrder=[{"order": 1, "computeEnvironment": environment}])
    definition = batch.register_job_definition(jobDefinitionName=unique("def"), type="container", containerProperties={
        "image": "busybox", "vcpus": 1, "memory": 128})
    return queue["jobQueueArn"], definition["jobDefinitionArn"]


async def test_a_batch_job_is_waited_for_and_its_description_is_the_result(service: StepFunctionsService) -> None:
    queue, definition = batch_queue()
    with batch_without_docker():
        described, history = await run(service, "batch:submitJob.sync", {
            "JobName": "nightly", "JobQueue": queue, "JobDefinition": definition, "Parameters": {"day": "monday"}})
    assert described["status"] == "SUCCEEDED", described
    output = json.loads(described["output"])
    response = submitted(history)
    assert (response["JobName"], response["JobId"]) == ("nightly", output["JobId"])
    assert response["SdkHttpMetadata"]["HttpStatusCode"] == 200 and response["SdkResponseMetadata"]["RequestId"]
    assert (output["Status"], output["JobName"], output["JobQueue"]) == ("SUCCEEDED", "nightly", queue)
    assert output["Parameters"] == {"day": "monday"}  # a map's keys are kept as they are
    assert isinstance(output["CreatedAt"], int) and isinstance(output["Attempts"][0]["StartedAt"], int)
    [job] = aws_client("batch").list_jobs(jobQueue=queue, jobStatus="SUCCEEDED")["jobSummaryList"]
    assert job["jobId"] == output["JobId"]
    types = [e["type"] for e in history]
    assert types.index("TaskSubmitted") < types.index("TaskSucceeded")


async def test_a_failed_batch_job_fails_the_task_with_its_description(service: StepFunctionsService) -> None:
    queue, definition = batch_queue()  # moto runs the job in Docker, which this machine has not: it fails
    described, _ = await run(service, "batch:submitJob.sync",
                             {"JobName": "nightly", "JobQueue": queue, "JobDefinition": definition})
    assert (described["status"], described["error"]) == ("FAILED", "States.TaskFailed")
    cause = json.loads(described["cause"])
    assert (cause["Status"], cause["JobName"], cause["JobQueue"]) == ("FAILED", "nightly", queue)


async def test_service_errors_are_named_as_step_functions_names_them(service: StepFunctionsService) -> None:
    described, history = await run(service, "batch:submitJob.sync",
                                   {"JobName": "nightly", "JobQueue": "nowhere", "JobDefinition": "none"})
    assert described["error"] == "Batch.ClientException", described
    assert "(Service: AWSBatch; Status Code: 400; Error Code: ClientException; Request ID: " in described["cause"]
    assert "TaskSubmitted" not in [e["type"] for e in history]
    described, _ = await run(service, "glue:startJobRun.sync", {"JobName": unique("missing")})
    assert described["error"] == "Glue.EntityNotFoundException", described


async def test_fields_the_api_does_not_have_are_refused(service: StepFunctionsService) -> None:
    described, _ = await run(service, "batch:submitJob.sync", {"JobName": "n", "JobQueue": "q", "JobDefinition": "d",
                                                               "Priority": 1})
    assert described["error"] == "States.Runtime"
    assert 'The field \\"Priority\\" is not supported by Step Functions' in json.dumps(described["cause"])


# ---------------------------------------------------------------- Amazon ECS


def ecs_task_definition() -> tuple[str, str]:
    ecs = aws_client("ecs")
    cluster = ecs.create_cluster(clusterName=unique("cluster"))["cluster"]["clusterArn"]
    family = unique("family")
    ecs.register_task_definition(family=family, containerDefinitions=[
        {"name": "main", "image": "busybox", "memory": 128}])
    return cluster, family


async def test_an_ecs_task_is_waited_for_until_it_stops(service: StepFunctionsService) -> None:
    cluster, family = ecs_task_definition()  # moto stops a task after a few DescribeTasks
    described, history = await run(service, "ecs:runTask.sync", {
        "Cluster": cluster, "TaskDefinition": family, "LaunchType": "FARGATE",
        "Overrides": {"ContainerOverrides": [{"Name": "main", "Command": ["echo", "hello"]}]}})
    assert described["status"] == "SUCCEEDED", described
    output = json.loads(described["output"])
    [task] = submitted(history)["Tasks"]
    assert task["LastStatus"] == "RUNNING" and output["TaskArn"] == task["TaskArn"]
    assert (output["LastStatus"], output["ClusterArn"]) == ("STOPPED", cluster)
    assert output["Containers"][0]["ExitCode"] == 0
    assert output["Overrides"]["ContainerOverrides"] == [{"Name": "main", "Command": ["echo", "hello"]}]


async def test_stopping_the_execution_stops_the_ecs_task(service: StepFunctionsService) -> None:
    cluster, family = ecs_task_definition()
    ecs = aws_client("ecs")
    with held("ecs::task"):
        arn = await start(service, "ecs:runTask.sync", {"Cluster": cluster, "TaskDefinition": family,
                                                        "LaunchType": "FARGATE"})
        [task] = (await until_submitted(service, arn))["Tasks"]
        await service.stop_execution(executionArn=arn)
        stopped = await eventually(lambda: ecs.describe_tasks(cluster=cluster, tasks=[task["TaskArn"]])["tasks"][0],
                                   lambda found: found["lastStatus"] == "STOPPED")
    assert stopped["stoppedReason"] == STOP_REASON
    assert (await service.describe_execution(executionArn=arn))["status"] == "ABORTED"


async def test_a_task_that_times_out_stops_its_job(service: StepFunctionsService) -> None:
    cluster, family = ecs_task_definition()
    ecs = aws_client("ecs")
    with held("ecs::task"):
        arn = await start(service, "ecs:runTask.sync", {"Cluster": cluster, "TaskDefinition": family,
                                                        "LaunchType": "FARGATE"}, TimeoutSeconds=1)
        await asyncio.wait_for(service.wait_for_execution(arn), 20)
        [task] = await eventually(  # stopped after the execution ended (its commit does not wait for the stop)
            lambda: ecs.describe_tasks(cluster=cluster, tasks=ecs.list_tasks(cluster=cluster)["taskArns"])["tasks"],
            lambda found: found[0]["lastStatus"] == "STOPPED")
        assert task["stoppedReason"] == STOP_REASON
    assert (await service.describe_execution(executionArn=arn))["error"] == "States.Timeout"


# ---------------------------------------------------------------- Athena, Glue, CodeBuild, SageMaker, EMR


async def test_an_athena_query_is_waited_for(service: StepFunctionsService) -> None:
    described, history = await run(service, "athena:startQueryExecution.sync", {
        "QueryString": "SELECT 1", "WorkGroup": "primary",
        "ResultConfiguration": {"OutputLocation": "s3://results/"}})
    assert described["status"] == "SUCCEEDED", described
    output = json.loads(described["output"])
    query = output["QueryExecution"]
    assert query["QueryExecutionId"] == submitted(history)["QueryExecutionId"]
    assert (query["Query"], query["Status"]["State"]) == ("SELECT 1", "SUCCEEDED")


async def test_a_cancelled_athena_query_fails_the_task(service: StepFunctionsService) -> None:
    athena = aws_client("athena")
    with held("athena::execution"):
        arn = await start(service, "athena:startQueryExecution.sync", {
            "QueryString": "SELECT 1", "ResultConfiguration": {"OutputLocation": "s3://results/"}})
        query = (await until_submitted(service, arn))["QueryExecutionId"]
        athena.stop_query_execution(QueryExecutionId=query)  # someone else cancels it
        await asyncio.wait_for(service.wait_for_execution(arn), 20)
    described = await service.describe_execution(executionArn=arn)
    assert described["error"] == "States.TaskFailed"
    assert json.loads(described["cause"])["QueryExecution"]["Status"]["State"] == "CANCELLED"


async def test_a_glue_job_run_is_waited_for(service: StepFunctionsService) -> None:
    name = unique("job")
    aws_client("glue").create_job(Name=name, Role=ROLE, Command={"Name": "glueetl", "ScriptLocation": "s3://s/x.py"})
    with held("glue::job_run"):
        arn = await start(service, "glue:startJobRun.sync", {"JobName": name, "Arguments": {"--day": "monday"}})
        run_id = (await until_submitted(service, arn))["JobRunId"]
        await asyncio.sleep(0.2)
        assert (await service.describe_execution(executionArn=arn))["status"] == "RUNNING"
    await asyncio.wait_for(service.wait_for_execution(arn), 20)  # the run goes on, and ends
    described = await service.describe_execution(executionArn=arn)
    assert described["status"] == "SUCCEEDED", described
    output = json.loads(described["output"])
    assert (output["Id"], output["JobName"], output["JobRunState"]) == (run_id, name, "SUCCEEDED")
    assert output["Arguments"] == {"--day": "monday"}


async def test_a_codebuild_build_is_waited_for(service: StepFunctionsService) -> None:
    project = unique("project")
    aws_client("codebuild").create_project(
        name=project, source={"type": "S3", "location": "bucket/source.zip"}, artifacts={"type": "NO_ARTIFACTS"},
        environment={"type": "LINUX_CONTAINER", "image": "aws/codebuild/standard:7.0", "computeType":
                     "BUILD_GENERAL1_SMALL"}, serviceRole=ROLE)
    described, history = await run(service, "codebuild:startBuild.sync", {"ProjectName": project})
    assert described["status"] == "SUCCEEDED", described
    build = json.loads(described["output"])["Build"]
    assert build["Id"] == submitted(history)["Build"]["Id"] and build["BuildStatus"] == "SUCCEEDED"
    assert build["ProjectName"] == project


async def test_a_sagemaker_training_job_is_waited_for(service: StepFunctionsService) -> None:
    name = unique("training")
    described, history = await run(service, "sagemaker:createTrainingJob.sync", {
        "TrainingJobName": name, "RoleArn": ROLE,
        "AlgorithmSpecification": {"TrainingImage": "image", "TrainingInputMode": "File"},
        "OutputDataConfig": {"S3OutputPath": "s3://models/"},
        "ResourceConfig": {"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 10},
        "StoppingCondition": {"MaxRuntimeInSeconds": 3600}, "HyperParameters": {"epochs": "3"}})
    assert described["status"] == "SUCCEEDED", described
    output = json.loads(described["output"])
    assert submitted(history)["TrainingJobArn"] == output["TrainingJobArn"]
    assert (output["TrainingJobName"], output["TrainingJobStatus"]) == (name, "Completed")
    assert output["HyperParameters"] == {"epochs": "3"}


async def test_an_emr_serverless_job_run_is_waited_for(service: StepFunctionsService) -> None:
    application = aws_client("emr-serverless").create_application(
        name=unique("app"), releaseLabel="emr-6.6.0", type="SPARK")["applicationId"]
    described, _ = await run(service, "emr-serverless:startJobRun.sync", {
        "ApplicationId": application, "ExecutionRoleArn": ROLE,
        "JobDriver": {"SparkSubmit": {"EntryPoint": "s3://code/main.py"}}})
    assert described["status"] == "SUCCEEDED", described
    job_run = json.loads(described["output"])["JobRun"]
    assert (job_run["ApplicationId"], job_run["State"]) == (application, "SUCCESS")


async def test_stopping_the_execution_cancels_an_emr_on_eks_job_run(service: StepFunctionsService) -> None:
    emr = aws_client("emr-containers")
    cluster = emr.create_virtual_cluster(name=unique("cluster"), containerProvider={
        "type": "EKS", "id": unique("eks"), "info": {"eksInfo": {"namespace": unique("ns")}}})["id"]
    arn = await start(service, "emr-containers:startJobRun.sync", {
        "VirtualClusterId": cluster, "ExecutionRoleArn": ROLE, "ReleaseLabel": "emr-6.3.0-latest",
        "JobDriver": {"SparkSubmitJobDriver": {"EntryPoint": "s3://code/main.py"}}})
    job = (await until_submitted(service, arn))["Id"]
    await service.stop_execution(executionArn=arn)
    await eventually(lambda: emr.describe_job_run(id=job, virtualClusterId=cluster)["jobRun"]["state"],
                     lambda state: state == "CANCELLED")


# ---------------------------------------------------------------- across a crash


def run_ecs_task_across(kill: Any, first: StepLine, survivor: Any) -> None:
    """Start a runTask.sync execution on `first`, `kill` a server once its task was submitted, end the task, and
    check on `survivor()` that the execution succeeded with that task, which was started once."""
    ecs = aws_client("ecs")
    cluster, family = ecs_task_definition()
    sfn = first.client()
    machine = sfn.create_state_machine(name="run", roleArn=ROLE, definition=json.dumps({"StartAt": "Run", "States": {
        "Run": {"Type": "Task", "Resource": ARN + "ecs:runTask.sync", "End": True,
                "Parameters": {"Cluster": cluster, "TaskDefinition": family, "LaunchType": "FARGATE"}}}}))
    arn = sfn.start_execution(stateMachineArn=machine["stateMachineArn"])["executionArn"]
    deadline = time.monotonic() + 20
    while "TaskSubmitted" not in types(history(sfn, arn)):
        assert time.monotonic() < deadline, "the task was not submitted"
        time.sleep(0.05)
    kill()
    sfn = survivor().client()  # it resumes the execution: the task is waited for, not run again
    [task] = ecs.list_tasks(cluster=cluster, desiredStatus="RUNNING")["taskArns"]
    ecs.stop_task(cluster=cluster, task=task, reason="done")  # the task ends (moto runs no container)
    done = finished(sfn, arn, timeout=30)
    assert done["status"] == "SUCCEEDED", done
    assert json.loads(done["output"])["TaskArn"] == task
    assert ecs.list_tasks(cluster=cluster, desiredStatus="STOPPED")["taskArns"] == [task]
    assert not ecs.list_tasks(cluster=cluster, desiredStatus="RUNNING")["taskArns"]
    assert types(history(sfn, arn)).count("TaskSubmitted") == 1


def server_environment() -> dict[str, str]:
    return {**aws_environment(), "STEPLINE_JOB_POLL_SECONDS": "0.05"}


def test_a_sync_job_survives_a_sigkill_of_its_server(tmp_path: Path) -> None:
    servers = [StepLine.start(tmp_path / "store.db", environment=server_environment())]

    def kill() -> None:
        servers[0].kill()
        servers.append(servers[0].restart())
    try:
        with held("ecs::task"):
            run_ecs_task_across(kill, servers[0], lambda: servers[-1])
    finally:
        servers[-1].stop()


@pytest.fixture
def database(postgres_url: str) -> Iterator[str]:
    with fresh_schema(postgres_url, "jobs") as (location, _):
        yield location


def test_a_sync_job_survives_the_kill_of_its_worker_on_postgres(database: str, tmp_path: Path) -> None:
    options = ["--lease-seconds", "2", "--poll-seconds", "0.5"]
    first = StepLine.start(database, options=[*options, "--worker-name", "first"], log=tmp_path / "first.log",
                           environment=server_environment())
    second = StepLine.start(database, options=[*options, "--worker-name", "second"], log=tmp_path / "second.log",
                            environment=server_environment())
    try:
        with held("ecs::task"):  # the execution starts on the first worker; the second takes it over
            run_ecs_task_across(first.kill, first, lambda: second)
    finally:
        first.stop()
        second.stop()


async def test_the_idempotency_key_is_the_submission_token_and_a_stop_stops_the_job(
        service: StepFunctionsService) -> None:
    bedrock = aws_client("bedrock")
    parameters = {"JobName": unique("job"), "CustomModelName": unique("model"), "RoleArn": ROLE,
                  "BaseModelIdentifier": "amazon.titan-text-express-v1",
                  "TrainingDataConfig": {"S3Uri": "s3://data/train.jsonl"},
                  "OutputDataConfig": {"S3Uri": "s3://data/out/"}, "HyperParameters": {"epochCount": "1"}}
    call = TaskCall(resource=describe_resource(ARN + "bedrock:createModelCustomizationJob.sync"),
                    parameters=parameters, state_name="Job", invocation=0, execution_arn="arn:execution",
                    idempotency_key=str(uuid.uuid4()))
    jobs = service.remote
    outcome = await jobs.invoke(call)
    assert isinstance(outcome, Submitted)
    job = bedrock.get_model_customization_job(jobIdentifier=outcome.handle["jobIdentifier"])
    assert job["clientRequestToken"] == call.idempotency_key and job["status"] == "InProgress"
    await jobs.cancel(call, outcome.handle)
    assert bedrock.get_model_customization_job(jobIdentifier=parameters["JobName"])["status"] == "Stopped"

    given = {**parameters, "JobName": unique("job"), "CustomModelName": unique("model"), "ClientRequestToken": "mine"}
    arn = await start(service, "bedrock:createModelCustomizationJob.sync", given)
    assert (await until_submitted(service, arn))["JobArn"].endswith(given["JobName"])
    name = given["JobName"]
    assert bedrock.get_model_customization_job(jobIdentifier=name)["clientRequestToken"] == "mine"
    await service.stop_execution(executionArn=arn)
    await eventually(lambda: bedrock.get_model_customization_job(jobIdentifier=name)["status"],
                     lambda status: status == "Stopped")


async def test_an_emr_step_is_added_to_its_cluster_and_waited_for(service: StepFunctionsService) -> None:
    emr = aws_client("emr")
    cluster = emr.run_job_flow(Name=unique("cluster"), ReleaseLabel="emr-6.10.0", JobFlowRole="EMR_EC2_DefaultRole",
                               ServiceRole="EMR_DefaultRole", Instances={
                                   "MasterInstanceType": "m5.xlarge", "InstanceCount": 1,
                                   "KeepJobFlowAliveWhenNoSteps": True})["JobFlowId"]
    arn = await start(service, "elasticmapreduce:addStep.sync", {"ClusterId": cluster, "Step": {
        "Name": "count", "ActionOnFailure": "CONTINUE",
        "HadoopJarStep": {"Jar": "command-runner.jar", "Args": ["spark-submit", "s3://code/count.py"]}}})
    step_id = (await until_submitted(service, arn))["StepId"]  # the integration answers one StepId
    step = emr.describe_step(ClusterId=cluster, StepId=step_id)["Step"]
    assert step["Name"] == "count" and step["Config"]["Args"] == ["spark-submit", "s3://code/count.py"]
    await asyncio.sleep(0.2)  # moto's steps never end: the task waits
    assert (await service.describe_execution(executionArn=arn))["status"] == "RUNNING"
    await service.stop_execution(executionArn=arn)


# ---------------------------------------------------------------- resources created and deleted (.sync)


async def test_an_emr_cluster_is_waited_for_until_it_waits_and_until_it_is_terminated(
        service: StepFunctionsService) -> None:
    emr = aws_client("emr")
    described, history = await run(service, "elasticmapreduce:createCluster.sync", {
        "Name": unique("cluster"), "ReleaseLabel": "emr-6.10.0", "JobFlowRole": "EMR_EC2_DefaultRole",
        "ServiceRole": "EMR_DefaultRole", "Instances": {"KeepJobFlowAliveWhenNoSteps": True,
                                                        "MasterInstanceType": "m5.xlarge", "InstanceCount": 1}})
    assert described["status"] == "SUCCEEDED", described
    output = json.loads(described["output"])
    cluster = output["ClusterId"]  # the call's result, as Step Functions gives it (its samples read $.ClusterId)
    assert output == submitted(history)
    assert emr.describe_cluster(ClusterId=cluster)["Cluster"]["Status"]["State"] == "WAITING"
    described, _ = await run(service, "elasticmapreduce:terminateCluster.sync", {"ClusterId": cluster})
    assert described["status"] == "SUCCEEDED", described
    assert emr.describe_cluster(ClusterId=cluster)["Cluster"]["Status"]["State"] == "TERMINATED"
    described, _ = await run(service, "elasticmapreduce:createCluster.sync", {"Name": "c", "Instances": {}})
    assert described["error"] == "States.Runtime"


async def test_emr_serverless_applications_are_waited_for_in_each_state(service: StepFunctionsService) -> None:
    emr = aws_client("emr-serverless")
    described, _ = await run(service, "emr-serverless:createApplication.sync", {
        "Name": unique("app"), "ReleaseLabel": "emr-6.6.0", "Type": "SPARK"})
    assert described["status"] == "SUCCEEDED", described
    application = json.loads(described["output"])["ApplicationId"]
    for verb, state in (("stop", "STOPPED"), ("start", "STARTED"), ("stop", "STOPPED"), ("delete", "TERMINATED")):
        described, _ = await run(service, f"emr-serverless:{verb}Application.sync", {"ApplicationId": application})
        assert described["status"] == "SUCCEEDED", described
        assert json.loads(described["output"])["ApplicationId"] == application
        assert emr.get_application(applicationId=application)["application"]["state"] == state
    described, _ = await run(service, "emr-serverless:stopApplication.sync", {"ApplicationId": "none"})
    assert described.get("error") == "EMRServerless.ResourceNotFoundException", described


async def test_an_emr_serverless_job_run_is_cancelled_and_waited_for(service: StepFunctionsService) -> None:
    emr = aws_client("emr-serverless")
    application = emr.create_application(name=unique("app"), releaseLabel="emr-6.6.0", type="SPARK")["applicationId"]
    run_id = emr.start_job_run(applicationId=application, executionRoleArn=ROLE, jobDriver={
        "sparkSubmit": {"entryPoint": "s3://code/main.py"}})["jobRunId"]
    described, _ = await run(service, "emr-serverless:cancelJobRun.sync", {"ApplicationId": application,
                                                                           "JobRunId": run_id})
    assert described["status"] == "SUCCEEDED", described
    assert json.loads(described["output"])["JobRunId"] == run_id
    assert emr.get_job_run(applicationId=application, jobRunId=run_id)["jobRun"]["state"] == "CANCELLED"


async def test_an_emr_on_eks_virtual_cluster_deletion_is_waited_for(service: StepFunctionsService) -> None:
    emr = aws_client("emr-containers")
    cluster = emr.create_virtual_cluster(name=unique("cluster"), containerProvider={
        "type": "EKS", "id": unique("eks"), "info": {"eksInfo": {"namespace": unique("ns")}}})["id"]
    described, _ = await run(service, "emr-containers:deleteVirtualCluster.sync", {"Id": cluster})
    assert described["status"] == "SUCCEEDED", described
    assert json.loads(described["output"])["Id"] == cluster
    assert emr.describe_virtual_cluster(id=cluster)["virtualCluster"]["state"] == "TERMINATED"


async def test_eks_clusters_and_node_groups_are_waited_for_until_active_and_until_gone(
        service: StepFunctionsService) -> None:
    eks, name = aws_client("eks"), unique("cluster")
    described, _ = await run(service, "eks:createCluster.sync", {"Name": name, "RoleArn": ROLE,
                                                                 "ResourcesVpcConfig": {"SubnetIds": ["subnet-1"]}})
    assert described["status"] == "SUCCEEDED", described
    cluster = json.loads(described["output"])["Cluster"]  # DescribeCluster's, once ACTIVE
    assert (cluster["Name"], cluster["Status"]) == (name, "ACTIVE")
    for resource, parameters in (
            ("createNodegroup", {"ClusterName": name, "NodegroupName": "workers", "NodeRole": ROLE,
                                 "Subnets": ["subnet-1"]}),
            ("createFargateProfile", {"ClusterName": name, "FargateProfileName": "pods",
                                      "PodExecutionRoleArn": ROLE, "Selectors": [{"Namespace": "default"}]}),
            ("deleteFargateProfile", {"ClusterName": name, "FargateProfileName": "pods"}),
            ("deleteNodegroup", {"ClusterName": name, "NodegroupName": "workers"}),
            ("deleteCluster", {"Name": name})):
        described, history = await run(service, f"eks:{resource}.sync", parameters)
        assert described["status"] == "SUCCEEDED", (resource, described)
        if resource.startswith("delete"):  # until DescribeX no longer finds it: the call's result
            assert json.loads(described["output"]) == submitted(history)
    assert name not in eks.list_clusters()["clusters"]
